"""WebSocket consumers on `GET /take/ws`: wants, deliveries, hand-off and errors."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import uuid

import aiohttp
import pytest

from .helpers import (
    Api,
    Server,
    assert_silent,
    recv_delivery,
    recv_error,
    recv_json,
    send_want,
    ws_url,
)


async def test_want_answered_from_stored_item(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A want is answered at once from a stored item, which leaves the queue."""
    item_id = api.put(queue, "stored", key="k")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_want(ws, "w1", queue)
        identifier, item = await recv_delivery(ws)
    assert identifier == "w1"
    assert (item["key"], item["value"], item["id"]) == ("k", "stored", item_id)
    api.take(queue).error(404, "no item to take")


async def test_delivery_frame_shape(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A delivery is {"success": true, "message": null, "payload": {"id", "item"}}."""
    api.put(queue, "v")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_want(ws, "shape", queue)
        frame = await ws.receive_json(timeout=5)
    assert frame["success"] is True
    assert frame["message"] is None
    assert set(frame["payload"]) == {"id", "item"}
    assert frame["payload"]["id"] == "shape"
    item = frame["payload"]["item"]
    assert item["key"] is None
    assert item["value"] == "v"
    assert isinstance(item["id"], str)


async def test_waiting_want_gets_later_put_not_stored(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A put that finds a waiting want is delivered to it and never stored."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_want(ws, "later", queue)
        api.wait_for_consumers(queue, 1)
        item_id = api.put(queue, "handed", key="h")
        identifier, item = await recv_delivery(ws)
        assert identifier == "later"
        assert (item["key"], item["value"], item["id"]) == ("h", "handed", item_id)
        api.take(queue).error(404, "no item to take")
        info = api.info(queue)
        assert (info["size"], info["consumers"]) == (0, 0)


async def test_each_want_gets_exactly_one_item(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """One want is answered by one item; further puts are stored."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_want(ws, "once", queue)
        api.wait_for_consumers(queue, 1)
        api.put(queue, "first")
        api.put(queue, "second")
        identifier, item = await recv_delivery(ws)
        assert (identifier, item["value"]) == ("once", "first")
        await assert_silent(ws)
        assert api.drain(queue) == ["second"]


async def test_stored_items_answer_wants_in_fifo_order(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """Wants sent one after the other receive stored items oldest first."""
    for value in ("a", "b", "c"):
        api.put(queue, value)
    got = []
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        for i in range(3):
            await send_want(ws, f"w{i}", queue)
            identifier, item = await recv_delivery(ws)
            assert identifier == f"w{i}"
            got.append(item["value"])
    assert got == ["a", "b", "c"]


async def test_longest_waiting_want_served_first_across_connections(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """Puts go to waiting wants in the order the wants arrived, across connections."""
    async with (
        http.ws_connect(ws_url(open_server.url)) as first,
        http.ws_connect(ws_url(open_server.url)) as second,
    ):
        await send_want(second, "second-conn", queue)
        api.wait_for_consumers(queue, 1)
        await send_want(first, "first-conn", queue)
        api.wait_for_consumers(queue, 2)
        api.put(queue, "one")
        identifier, item = await recv_delivery(second)
        assert (identifier, item["value"]) == ("second-conn", "one")
        await assert_silent(first, 0.2)
        api.put(queue, "two")
        identifier, item = await recv_delivery(first)
        assert (identifier, item["value"]) == ("first-conn", "two")


async def test_several_wants_on_one_connection(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """Wants on one connection are independent; each gets its own item, oldest want first."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        for name in ("x", "y", "z"):
            await send_want(ws, name, queue)
        api.wait_for_consumers(queue, 3)
        for value in ("1", "2", "3"):
            api.put(queue, value)
        got = dict([await recv_delivery(ws) for _ in range(3)])
    assert {k: v["value"] for k, v in got.items()} == {"x": "1", "y": "2", "z": "3"}
    api.take(queue).error(404, "no item to take")


async def test_keyed_want_matches_case_insensitively(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A keyed want ignores other keys and unkeyed items, and takes its key in any case."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_want(ws, "apples", queue, key="Apple")
        api.wait_for_consumers(queue, 1)
        api.put(queue, "pear", key="pear")
        api.put(queue, "plain")
        await assert_silent(ws, 0.3)
        api.put(queue, "green", key="APPLE")
        identifier, item = await recv_delivery(ws)
    assert (identifier, item["key"], item["value"]) == ("apples", "APPLE", "green")
    assert api.drain(queue) == ["pear", "plain"]


async def test_keyed_want_answered_from_stored_matching_item(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A keyed want takes the oldest stored item with its key, skipping older others."""
    api.put(queue, "other", key="b")
    api.put(queue, "no key")
    api.put(queue, "match", key="a")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_want(ws, "k", queue, key="A")
        identifier, item = await recv_delivery(ws)
    assert (identifier, item["value"]) == ("k", "match")
    assert api.drain(queue) == ["other", "no key"]


async def test_unkeyed_want_takes_keyed_item(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """An unkeyed want takes any item, keyed ones included."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_want(ws, "any", queue)
        api.wait_for_consumers(queue, 1)
        api.put(queue, "keyed", key="whatever")
        identifier, item = await recv_delivery(ws)
    assert (identifier, item["key"], item["value"]) == ("any", "whatever", "keyed")


async def test_put_goes_to_matching_want_not_older_unmatching(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A put skips older wants whose key does not match and goes to the first that does."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_want(ws, "wants-a", queue, key="a")
        await send_want(ws, "wants-any", queue)
        api.wait_for_consumers(queue, 2)
        api.put(queue, "bee", key="b")
        identifier, item = await recv_delivery(ws)
        assert (identifier, item["value"]) == ("wants-any", "bee")
        api.put(queue, "ay", key="A")
        identifier, item = await recv_delivery(ws)
        assert (identifier, item["value"]) == ("wants-a", "ay")
    api.take(queue).error(404, "no item to take")


@pytest.mark.parametrize("keyed_first", [True, False], ids=["keyed-older", "unkeyed-older"])
async def test_put_goes_to_oldest_of_several_matching_wants(
    api: Api,
    queue: str,
    http: aiohttp.ClientSession,
    open_server: Server,
    keyed_first: bool,
) -> None:
    """When a keyed and an unkeyed want both match, the older one gets the item."""
    order = [("keyed", "a"), ("unkeyed", None)]
    if not keyed_first:
        order.reverse()
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        for count, (identifier, key) in enumerate(order, start=1):
            await send_want(ws, identifier, queue, key=key)
            api.wait_for_consumers(queue, count)
        api.put(queue, "first", key="A")
        identifier, item = await recv_delivery(ws)
        assert (identifier, item["value"]) == (order[0][0], "first")
        api.put(queue, "second", key="a")
        identifier, item = await recv_delivery(ws)
        assert (identifier, item["value"]) == (order[1][0], "second")


async def test_want_queue_name_case_insensitive(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A want names its queue in any case."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_want(ws, "upper", queue.upper())
        api.wait_for_consumers(queue, 1)
        api.put(queue, "v")
        identifier, item = await recv_delivery(ws)
    assert (identifier, item["value"]) == ("upper", "v")


async def test_wants_counted_as_consumers(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """POST /queue counts pending wants as consumers, and answered ones no more."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_want(ws, "c1", queue)
        await send_want(ws, "c2", queue)
        api.wait_for_consumers(queue, 2)
        api.put(queue, "v")
        await recv_delivery(ws)
        assert api.info(queue)["consumers"] == 1


async def test_disconnect_cancels_wants_and_nothing_is_lost(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """After a consumer disconnects its wants are gone: a later put is stored, not lost."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_want(ws, "gone", queue)
        await send_want(ws, "gone-too", queue, key="k")
        api.wait_for_consumers(queue, 2)
    api.wait_for_consumers(queue, 0)
    api.put(queue, "kept")
    api.put(queue, "kept-keyed", key="k")
    assert api.drain(queue) == ["kept", "kept-keyed"]


async def test_abrupt_disconnect_cancels_wants(api: Api, queue: str, open_server: Server) -> None:
    """A consumer whose TCP connection drops without a close frame loses its wants, no items."""
    port = open_server.ports[0]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /take/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101"), head
    writer.write(_masked_text_frame(json.dumps({"identifier": "w", "queue": queue})))
    await writer.drain()
    await asyncio.to_thread(api.wait_for_consumers, queue, 1)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset
    writer.transport.abort()
    writer.close()
    await asyncio.to_thread(api.wait_for_consumers, queue, 0)
    api.put(queue, "safe")
    assert api.drain(queue) == ["safe"]


def _masked_text_frame(text: str) -> bytes:
    """One final, masked text frame (client to server), for payloads under 126 bytes."""
    data = text.encode()
    assert len(data) < 126
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return bytes([0x81, 0x80 | len(data)]) + mask + masked


async def test_delete_queue_cancels_wants_silently(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """Deleting a queue drops its wants without a message; a re-created queue keeps its puts."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_want(ws, "orphan", queue)
        api.wait_for_consumers(queue, 1)
        api.call("DELETE", "/queue", data={"name": queue}).ok()
        await assert_silent(ws, 0.3)
        api.new_queue(queue)
        assert api.info(queue)["consumers"] == 0
        api.put(queue, "after")
        await assert_silent(ws, 0.3)
        assert api.drain(queue) == ["after"]
        # The connection still works for new wants.
        await send_want(ws, "fresh", queue)
        api.wait_for_consumers(queue, 1)
        api.put(queue, "fresh-item")
        identifier, item = await recv_delivery(ws)
        assert (identifier, item["value"]) == ("fresh", "fresh-item")


async def test_upgrade_accepts_capitalised_upgrade_header(
    api: Api, queue: str, open_server: Server
) -> None:
    """The upgrade accepts `Upgrade: WebSocket` (as autobahn sends it) and serves wants."""
    api.put(queue, "cap")
    port = open_server.ports[0]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /take/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: WebSocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101"), head
        writer.write(_masked_text_frame(json.dumps({"identifier": "c", "queue": queue})))
        await writer.drain()
        first = await asyncio.wait_for(reader.readexactly(2), 5)
        assert first[0] == 0x81, first
        length = first[1] & 0x7F
        if length == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        frame = json.loads(await asyncio.wait_for(reader.readexactly(length), 5))
        assert frame["payload"]["id"] == "c"
        assert frame["payload"]["item"]["value"] == "cap"
    finally:
        writer.close()


# ---------------------------------------------------------------- errors


# An error tied to a want (it has an identifier) carries it in payload.id (API.md
# Part 3 "WebSocket want errors"); the others keep payload null.
@pytest.mark.parametrize(
    ("frame", "reason", "payload"),
    [
        ("not json at all", "failed to read message", None),
        ("[1, 2, 3]", "failed to read message", None),
        ('"a string"', "failed to read message", None),
        ("42", "failed to read message", None),
        ('{"queue": "QUEUE"}', "no identifier", None),
        ('{"identifier": "i"}', "no queue", {"id": "i"}),
        ('{"identifier": "i", "queue": "QUEUE", "key": 5}', "failed to read message", None),
        (
            '{"identifier": "i", "queue": "00000000-0000-4000-8000-000000000000"}',
            "queue not found",
            {"id": "i"},
        ),
        ('{"identifier": 7, "queue": "not-a-uuid"}', "queue not found", {"id": 7}),
        ('{"identifier": "i", "queue": 12}', "queue not found", {"id": "i"}),
    ],
)
async def test_want_errors(
    api: Api,
    queue: str,
    http: aiohttp.ClientSession,
    open_server: Server,
    frame: str,
    reason: str,
    payload: dict[str, object] | None,
) -> None:
    """A bad want gets an error frame with its reason (and its identifier when it has
    one), registers nothing, keeps the socket open."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await ws.send_str(frame.replace("QUEUE", queue))
        assert await recv_json(ws) == {"success": False, "message": reason, "payload": payload}
        assert api.info(queue)["consumers"] == 0
        api.put(queue, "still-works")
        await send_want(ws, "ok", queue)
        identifier, item = await recv_delivery(ws)
        assert (identifier, item["value"]) == ("ok", "still-works")


async def test_binary_frame_is_refused(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A binary frame, even holding a valid want, → failed to read message; socket stays open."""
    api.put(queue, "v")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await ws.send_bytes(json.dumps({"identifier": "b", "queue": queue}).encode())
        assert await recv_error(ws) == "failed to read message"
        assert api.info(queue)["size"] == 1
        await send_want(ws, "t", queue)
        identifier, item = await recv_delivery(ws)
    assert (identifier, item["value"]) == ("t", "v")


async def test_want_for_deleted_queue(
    api: Api, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A want for a queue that was deleted → queue not found."""
    name = api.new_queue()
    api.call("DELETE", "/queue", data={"name": name}).ok()
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_want(ws, "late", name)
        assert await recv_json(ws) == {
            "success": False,
            "message": "queue not found",
            "payload": {"id": "late"},
        }


async def test_many_errors_then_delivery(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A string of bad frames never closes the connection."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        for _ in range(5):
            await ws.send_str("{")
            await ws.send_str(json.dumps({"identifier": "x", "queue": str(uuid.uuid4())}))
        reasons = [(await recv_json(ws))["message"] for _ in range(10)]
        assert reasons == ["failed to read message", "queue not found"] * 5
        await send_want(ws, "end", queue)
        api.wait_for_consumers(queue, 1)
        api.put(queue, "done")
        identifier, item = await recv_delivery(ws)
        assert (identifier, item["value"]) == ("end", "done")
        assert not ws.closed


async def test_unicode_item_over_websocket(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """Non-ASCII keys and values reach a WebSocket consumer intact."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_want(ws, "u", queue, key="ключ")
        api.wait_for_consumers(queue, 1)
        api.put(queue, "значение 🚀", key="ключ")
        _, item = await recv_delivery(ws)
    assert (item["key"], item["value"]) == ("ключ", "значение 🚀")
