"""Many clients at once: every item is delivered exactly once and nothing is lost."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from .helpers import Api, Server, check_envelope, recv_delivery, send_want, ws_url


async def _post(session: aiohttp.ClientSession, url: str, data: dict[str, str]) -> dict[str, Any]:
    async with session.post(url, data=data) as resp:
        return check_envelope(resp.status, resp.headers, await resp.read())


async def test_concurrent_takes_get_each_item_once(
    api: Api, queue: str, open_server: Server
) -> None:
    """Items taken by many concurrent HTTP clients are each handed out exactly once."""
    values = [f"v{i}" for i in range(200)]
    for value in values:
        api.put(queue, value)
    got: list[str] = []

    async def taker(session: aiohttp.ClientSession) -> None:
        while True:
            body = await _post(session, open_server.url + "/take", {"name": queue})
            if not body["success"]:
                assert body["message"] == "no item to take", body
                return
            got.append(body["payload"]["value"])

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(taker(session) for _ in range(10)))
    assert sorted(got) == sorted(values)
    assert len(got) == len(set(got))


async def test_concurrent_puts_and_wants_lose_nothing(
    api: Api, queue: str, open_server: Server
) -> None:
    """Concurrent puts against many waiting wants: each want gets one item, the rest is stored."""
    consumers, wants_each, items = 4, 20, 130
    async with aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect(ws_url(open_server.url)) for _ in range(consumers)]
        try:
            for c, ws in enumerate(sockets):
                for w in range(wants_each):
                    await send_want(ws, f"c{c}-w{w}", queue)
            api.wait_for_consumers(queue, consumers * wants_each)

            async def putter(start: int) -> None:
                for i in range(start, items, 10):
                    body = await _post(
                        session, open_server.url + "/put", {"name": queue, "value": f"i{i}"}
                    )
                    assert body["success"], body

            await asyncio.gather(*(putter(s) for s in range(10)))
            delivered: dict[str, str] = {}
            for ws in sockets:
                for _ in range(wants_each):
                    identifier, item = await recv_delivery(ws)
                    assert identifier not in delivered, identifier
                    delivered[identifier] = item["value"]
        finally:
            for ws in sockets:
                await ws.close()
    stored = api.drain(queue)
    assert len(delivered) == consumers * wants_each
    everything = list(delivered.values()) + stored
    assert sorted(everything) == sorted(f"i{i}" for i in range(items))
    assert len(stored) == items - consumers * wants_each


async def test_large_value_over_websocket(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A 1 MiB value (the default maximum) is delivered whole to a WebSocket consumer."""
    value = 'é"\\' * (1024 * 1024 // 4)
    assert len(value.encode()) <= 1024 * 1024
    api.put(queue, value)
    async with http.ws_connect(ws_url(open_server.url), max_msg_size=16 * 1024 * 1024) as ws:
        await send_want(ws, "big", queue)
        identifier, item = await recv_delivery(ws, within=10)
    assert identifier == "big"
    assert item["value"] == value


async def test_plain_get_of_ws_path_gets_envelope(open_server: Server) -> None:
    """GET /take/ws without an upgrade is refused with a 4xx JSON envelope."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(open_server.url + "/take/ws") as resp,
    ):
        raw = await resp.read()
        assert 400 <= resp.status < 500, (resp.status, raw)
        body = check_envelope(resp.status, resp.headers, raw)
    assert body["success"] is False
    assert json.loads(raw) == body
