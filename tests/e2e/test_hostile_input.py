"""Inputs found by the fuzz test (tests/e2e/test_fuzz.py) that once went wrong, on every
storage backend: each now gets a clear answer."""

from __future__ import annotations

import aiohttp

from .helpers import Api, Server, recv_json, ws_url


def test_nul_in_parameters_is_400(api: Api, queue: str) -> None:
    """A NUL character in a value, key or id → 400 (PostgreSQL cannot store one, so no
    backend takes it); nothing is stored."""
    nul = "parameter '{}' must not contain NUL characters"
    api.call("POST", "/put", data={"name": queue, "value": "a\x00b"}).error(
        400, nul.format("value")
    )
    api.call("POST", "/put", json_body={"name": queue, "value": "v", "key": "\x00"}).error(
        400, nul.format("key")
    )
    api.call("POST", "/take", data={"name": queue, "key": "k\x00"}).error(400, nul.format("key"))
    api.call("POST", "/ack", data={"name": queue, "id": "\x00"}).error(400, nul.format("id"))
    batch = {"name": queue, "items": [{"value": "ok"}, {"value": "\x00"}]}
    api.call("POST", "/put", json_body=batch).error(400, "items[1]: " + nul.format("value"))
    assert api.info(queue)["size"] == 0


async def test_nul_in_websocket_messages(open_server: Server, api: Api, queue: str) -> None:
    """A NUL in a want's key or a put's value is refused with the message's identifier."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(ws_url(open_server.url)) as ws,
    ):
        await ws.send_json({"identifier": "w", "queue": queue, "key": "\x00"})
        assert await recv_json(ws) == {
            "success": False,
            "message": "parameter 'key' must not contain NUL characters",
            "payload": {"id": "w"},
        }
        await ws.send_json({"op": "put", "identifier": "p", "queue": queue, "value": "\x00"})
        reply = await recv_json(ws)
        assert (reply["message"], reply["payload"]) == (
            "parameter 'value' must not contain NUL characters",
            {"id": "p", "status": 400},
        )
    assert api.info(queue)["size"] == 0


async def test_put_to_own_want_on_one_websocket(open_server: Server, api: Api, queue: str) -> None:
    """A connection that puts to a queue on which it waits itself gets both the item and
    the put's reply (the hand-off used to wait for a write that waited for it)."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(ws_url(open_server.url)) as ws,
    ):
        await ws.send_json({"identifier": "w", "queue": queue})
        api.wait_for_consumers(queue, 1)
        await ws.send_json({"op": "put", "identifier": "p", "queue": queue, "value": "self"})
        frames = [await recv_json(ws), await recv_json(ws)]
    by_id = {frame["payload"]["id"]: frame["payload"] for frame in frames}
    assert by_id["w"]["item"]["value"] == "self"
    assert isinstance(by_id["p"]["item_id"], str)
    assert api.info(queue)["size"] == 0


def test_huge_integer_is_400(api: Api, queue: str) -> None:
    """A 400-digit `count` (or `max_items`) is out of range: 400, not a 500 from
    converting it to a float."""
    api.call("POST", "/take", data={"name": queue, "count": "9" * 400}).error(
        400, "invalid parameter 'count'"
    )
    api.call("POST", "/queues", data={"max_items": "9" * 400}).error(
        400, "invalid parameter 'max_items'"
    )


async def test_huge_integer_on_websocket(open_server: Server, api: Api, queue: str) -> None:
    """The same on the WebSocket: an error frame with the identifier, and the connection
    goes on serving."""
    api.put(queue, "after")
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(ws_url(open_server.url)) as ws,
    ):
        await ws.send_json({"identifier": "w", "queue": queue, "count": "9" * 400})
        assert await recv_json(ws) == {
            "success": False,
            "message": "invalid parameter 'count'",
            "payload": {"id": "w"},
        }
        await ws.send_json({"identifier": "x", "queue": queue})
        frame = await recv_json(ws)
    assert frame["payload"]["item"]["value"] == "after"
