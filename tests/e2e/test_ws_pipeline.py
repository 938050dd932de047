"""A WebSocket connection's messages are pipelined (server/websocket.py): many in
progress at once, their effects and their answers in the order they were sent."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from .helpers import Api, Server, put_item, recv_delivery, recv_json, ws_url

ITEMS = 60


async def send(ws: aiohttp.ClientWebSocketResponse, message: dict[str, Any]) -> None:
    await ws.send_str(json.dumps(message))


async def leased(
    ws: aiohttp.ClientWebSocketResponse, queue: str, count: int
) -> list[dict[str, Any]]:
    await send(ws, {"identifier": "w", "queue": queue, "lease": 30, "count": count})
    return [(await recv_delivery(ws))[1] for _ in range(count)]


async def test_pipelined_acks_are_answered_in_order(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """Acks sent without waiting, one a bad receipt, are answered one each, in order,
    the bad one with its own error in its place; every good one took effect."""
    for n in range(ITEMS):
        put_item(api, queue, f"v{n}")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        items = await leased(ws, queue, ITEMS)
        sent = []
        for n, item in enumerate(items):
            if n == ITEMS // 2:
                bad = {"op": "ack", "identifier": "bad", "queue": queue, "receipt": "x.y"}
                await send(ws, bad)
                sent.append("bad")
            await send(ws, {"op": "ack", "identifier": f"a{n}", "queue": queue, **_of(item)})
            sent.append(f"a{n}")
        answers = [await recv_json(ws) for _ in sent]
    assert [answer["payload"]["id"] for answer in answers] == sent
    for identifier, answer in zip(sent, answers, strict=True):
        if identifier == "bad":
            assert (answer["success"], answer["message"]) == (False, "no such lease"), answer
        else:
            assert answer["success"] is True, answer
    info = api.info(queue)
    assert (info["size"], info["in_flight"], info["acked"]) == (0, 0, ITEMS)


async def test_a_batch_ack_reports_the_receipt_that_failed(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """One batch ack with a receipt already acked: done counts the others, missing
    names exactly that receipt, and the others are acked."""
    for n in range(5):
        put_item(api, queue, f"v{n}")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        items = await leased(ws, queue, 5)
        receipts = [item["receipt"] for item in items]
        await send(ws, {"op": "ack", "identifier": "one", "queue": queue, "receipt": receipts[2]})
        await send(ws, {"op": "ack", "identifier": "all", "queue": queue, "receipts": receipts})
        first, batch = await recv_json(ws), await recv_json(ws)
    assert first["payload"] == {"id": "one"}
    assert batch["payload"] == {"id": "all", "done": 4, "missing": [receipts[2]]}
    info = api.info(queue)
    assert (info["in_flight"], info["acked"]) == (0, 5)


async def test_pipelined_puts_keep_their_order(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """Puts sent without waiting are answered in order and stored in that order."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        for n in range(ITEMS):
            await send(ws, {"op": "put", "identifier": f"p{n}", "queue": queue, "value": f"{n}"})
        answers = [await recv_json(ws) for _ in range(ITEMS)]
    assert [answer["payload"]["id"] for answer in answers] == [f"p{n}" for n in range(ITEMS)]
    assert api.drain(queue) == [f"{n}" for n in range(ITEMS)]


def _of(item: dict[str, Any]) -> dict[str, str]:
    return {"receipt": item["receipt"]}
