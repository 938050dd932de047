"""WebSocket additions (API.md Part 2): wants with `lease` and `count`, and `op` messages."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from .helpers import (
    Api,
    Server,
    assert_silent,
    put_item,
    recv_delivery,
    recv_json,
    recv_reply,
    send_op,
    take_with,
    wait_until,
    ws_url,
)

UNKNOWN_QUEUE = "1f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c"


async def send(ws: aiohttp.ClientWebSocketResponse, message: dict[str, Any]) -> None:
    await ws.send_str(json.dumps(message))


def check_leased(item: dict[str, Any], lease: float, attempts: int = 1) -> None:
    assert isinstance(item.get("id"), str), item
    assert item.get("attempts") == attempts, item
    assert abs(item["lease_expires"] - (time.time() + lease)) < 2.0, item


async def test_want_with_lease_delivers_a_leased_item(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A want with lease delivers the item with id, attempts, lease_expires; it stays in flight."""
    item_id = put_item(api, queue, "job", key="k")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send(ws, {"identifier": "w", "queue": queue, "lease": 30})
        identifier, item = await recv_delivery(ws)
        assert identifier == "w"
        assert (item["id"], item["key"], item["value"]) == (item_id, "k", "job")
        check_leased(item, 30)
        info = api.info(queue)
        assert (info["size"], info["in_flight"]) == (0, 1)
        await send_op(ws, "ack", "a1", queue, id=item_id)
        reply = await recv_reply(ws, "a1")
        assert reply == {"success": True, "message": None, "payload": {"id": "a1"}}
    info = api.info(queue)
    assert (info["size"], info["in_flight"], info["acked"]) == (0, 0, 1)


async def test_op_release_gives_the_item_back(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """op release → success; the item is back at the front with attempts counting on."""
    put_item(api, queue, "first")
    put_item(api, queue, "second")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send(ws, {"identifier": "w", "queue": queue, "lease": 30})
        _, item = await recv_delivery(ws)
        assert item["value"] == "first"
        await send_op(ws, "release", "r1", queue, id=item["id"])
        assert (await recv_reply(ws, "r1"))["success"] is True
        again = take_with(api, queue, lease=30).ok()
        assert (again["id"], again["attempts"]) == (item["id"], 2)
    # closing must not release the lease the item has since been given over HTTP
    assert api.take_item(queue)["value"] == "second"
    await asyncio.sleep(0.2)
    take_with(api, queue).error(404, "no item to take")
    assert api.info(queue)["in_flight"] == 1


async def test_op_release_with_delay(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """op release with delay: the item comes back only after the delay."""
    put_item(api, queue, "later")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send(ws, {"identifier": "w", "queue": queue, "lease": 30})
        _, item = await recv_delivery(ws)
        released = time.monotonic()
        await send_op(ws, "release", "r", queue, id=item["id"], delay=0.6)
        assert (await recv_reply(ws, "r"))["success"] is True
        take_with(api, queue).error(404, "no item to take")
        assert api.info(queue)["in_flight"] == 0

        def back() -> Any:
            reply = take_with(api, queue)
            return reply.ok() if reply.status == 200 else None

        returned = wait_until(back, timeout=2.0, what="delayed release")
        assert time.monotonic() - released >= 0.5
        assert returned["id"] == item["id"]


async def test_op_touch_extends_the_lease(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """op touch → payload {"id", "lease_expires"} ≈ now+lease; the item outlives its lease."""
    put_item(api, queue, "slow")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send(ws, {"identifier": "w", "queue": queue, "lease": 1})
        _, item = await recv_delivery(ws)
        await send_op(ws, "touch", "t", queue, id=item["id"], lease=5)
        reply = await recv_reply(ws, "t")
        assert reply["success"] is True, reply
        assert set(reply["payload"]) == {"id", "lease_expires"}
        assert abs(reply["payload"]["lease_expires"] - (time.time() + 5)) < 1.0, reply
        await assert_silent(ws, max(0.0, item["lease_expires"] - time.time()) + 0.3)
        take_with(api, queue).error(404, "no item to take")
        assert api.info(queue)["in_flight"] == 1
        await send_op(ws, "ack", "a", queue, id=item["id"])
        assert (await recv_reply(ws, "a"))["success"] is True


@pytest.mark.parametrize(
    ("op", "fields", "message", "status"),
    [
        ("ack", {"id": "no-such-id"}, "no such lease", 404),
        ("release", {"id": "no-such-id"}, "no such lease", 404),
        ("touch", {"id": "no-such-id", "lease": 1}, "no such lease", 404),
        ("touch", {"id": "no-such-id"}, "missing parameter 'lease'", 400),
        ("ack", {}, "missing parameter 'id'", 400),
        ("put", {}, "missing parameter 'value'", 400),
        ("frobnicate", {"id": "x"}, "unknown op", 400),
    ],
)
async def test_op_errors_carry_the_identifier(
    queue: str,
    http: aiohttp.ClientSession,
    open_server: Server,
    op: str,
    fields: dict[str, Any],
    message: str,
    status: int,
) -> None:
    """A failed op → {"success": false, "message": reason, "payload": {"id": X, "status": S}},
    S the HTTP status of the same failure over HTTP."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_op(ws, op, "bad-op", queue, **fields)
        reply = await recv_reply(ws, "bad-op")
        payload = {"id": "bad-op", "status": status}
        assert reply == {"success": False, "message": message, "payload": payload}
        # the connection stays usable
        await send_op(ws, "put", "ok-op", queue, value="after")
        assert (await recv_reply(ws, "ok-op"))["success"] is True


@pytest.mark.parametrize("op", ["ack", "release", "touch", "put"])
async def test_op_on_unknown_queue(
    http: aiohttp.ClientSession, open_server: Server, op: str
) -> None:
    """An op on a queue that does not exist → message queue does not exist, with the id."""
    fields = {"value": "v"} if op == "put" else {"id": "x", "lease": 1}
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_op(ws, op, "nq", UNKNOWN_QUEUE, **fields)
        reply = await recv_reply(ws, "nq")
    payload = {"id": "nq", "status": 404}
    assert reply == {"success": False, "message": "queue does not exist", "payload": payload}


async def test_op_put_stores_the_item(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """op put → payload {"id": X, "item_id": ...}; the item is queued with its key."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_op(ws, "put", "p1", queue, value="via ws", key="K")
        reply = await recv_reply(ws, "p1")
    assert reply["success"] is True
    assert set(reply["payload"]) == {"id", "item_id"}
    item = api.take_item(queue)
    assert item == {"key": "K", "value": "via ws", "id": reply["payload"]["item_id"]}


async def test_op_put_hands_off_to_a_waiting_want(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """op put on a queue with a waiting want on another connection is delivered to it."""
    url = ws_url(open_server.url)
    async with http.ws_connect(url) as consumer, http.ws_connect(url) as producer:
        await send(consumer, {"identifier": "c", "queue": queue})
        api.wait_for_consumers(queue, 1)
        await send_op(producer, "put", "p", queue, value="handed")
        reply = await recv_reply(producer, "p")
        identifier, item = await recv_delivery(consumer)
    assert identifier == "c"
    assert (item["value"], item["id"]) == ("handed", reply["payload"]["item_id"])
    take_with(api, queue).error(404, "no item to take")


async def test_count_want_takes_n_stored_items(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A count=n want takes n stored items in order, each delivery carrying its identifier."""
    ids = [put_item(api, queue, f"v{i}") for i in range(5)]
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send(ws, {"identifier": "stream", "queue": queue, "count": 3})
        deliveries = [await recv_delivery(ws) for _ in range(3)]
        assert [identifier for identifier, _ in deliveries] == ["stream"] * 3
        assert [item["value"] for _, item in deliveries] == ["v0", "v1", "v2"]
        assert [item["id"] for _, item in deliveries] == ids[:3]
        await assert_silent(ws, 0.3)
        info = api.info(queue)
        assert (info["size"], info["consumers"]) == (2, 0)


async def test_count_want_stays_open_for_later_puts(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A count=n want stays open until n items were delivered, then later puts are stored."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send(ws, {"identifier": "s", "queue": queue, "count": 3})
        api.wait_for_consumers(queue, 1)
        for i in range(3):
            put_item(api, queue, f"live{i}")
            identifier, item = await recv_delivery(ws)
            assert (identifier, item["value"]) == ("s", f"live{i}")
        api.wait_for_consumers(queue, 0)
        put_item(api, queue, "stored")
        await assert_silent(ws, 0.3)
    assert api.drain(queue) == ["stored"]


async def test_count_want_mixes_stored_and_later_items(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A count want first drains stored items, then waits for the rest."""
    put_item(api, queue, "old")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send(ws, {"identifier": "m", "queue": queue, "count": 2})
        assert (await recv_delivery(ws))[1]["value"] == "old"
        api.wait_for_consumers(queue, 1)
        batch = [{"value": "new0"}, {"value": "new1"}]
        api.call("POST", "/put", json_body={"name": queue, "items": batch}).ok()
        assert (await recv_delivery(ws))[1]["value"] == "new0"
        await assert_silent(ws, 0.3)
    assert api.drain(queue) == ["new1"]


async def test_count_want_with_lease(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A want with count and lease leases every delivery; ops ack them."""
    for i in range(3):
        put_item(api, queue, f"v{i}")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send(ws, {"identifier": "cl", "queue": queue, "count": 3, "lease": 30})
        items = [(await recv_delivery(ws))[1] for _ in range(3)]
        for item in items:
            check_leased(item, 30)
        assert api.info(queue)["in_flight"] == 3
        for n, item in enumerate(items):
            await send_op(ws, "ack", f"a{n}", queue, id=item["id"])
            assert (await recv_reply(ws, f"a{n}"))["success"] is True
    info = api.info(queue)
    assert (info["size"], info["in_flight"], info["acked"]) == (0, 0, 3)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lease", 0),
        ("lease", -1),
        ("lease", 43201),
        ("lease", "abc"),
        ("count", -1),
        ("count", 1001),
        ("count", 1.5),
        ("count", "abc"),
    ],
)
async def test_want_with_invalid_lease_or_count(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server, field: str, value: Any
) -> None:
    """A want with a bad lease/count → invalid parameter error carrying its identifier."""
    put_item(api, queue, "untouched")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send(ws, {"identifier": "bad", "queue": queue, field: value})
        reply = await recv_json(ws)
        assert reply == {
            "success": False,
            "message": f"invalid parameter '{field}'",
            "payload": {"id": "bad"},
        }
        await assert_silent(ws, 0.2)
    info = api.info(queue)
    assert (info["size"], info["in_flight"], info["consumers"]) == (1, 0, 0)


async def test_closing_the_connection_releases_its_leases(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """When a connection closes, its leases are released at once (attempts counted)."""
    put_item(api, queue, "a")
    put_item(api, queue, "b")
    put_item(api, queue, "c")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send(ws, {"identifier": "x", "queue": queue, "lease": 60})
        await send(ws, {"identifier": "y", "queue": queue, "lease": 60})
        got = {item["value"]: item for _, item in [await recv_delivery(ws) for _ in range(2)]}
        assert set(got) == {"a", "b"}
        assert api.info(queue)["in_flight"] == 2
    wait_until(lambda: api.info(queue)["in_flight"] == 0, timeout=1.0, what="release on close")
    api.call("POST", "/ack", data={"name": queue, "id": got["a"]["id"]}).error(404, "no such lease")
    items = take_with(api, queue, count=10, lease=30).ok()
    assert sorted(item["value"] for item in items) == ["a", "b", "c"]
    attempts = {item["value"]: item["attempts"] for item in items}
    assert attempts == {"a": 2, "b": 2, "c": 1}


async def test_item_acked_over_http_is_not_released_on_close(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A lease taken over WebSocket can be acked over HTTP; closing then returns nothing."""
    put_item(api, queue, "done")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send(ws, {"identifier": "w", "queue": queue, "lease": 60})
        _, item = await recv_delivery(ws)
        api.call("POST", "/ack", data={"name": queue, "id": item["id"]}).ok()
    await asyncio.sleep(0.3)
    take_with(api, queue).error(404, "no item to take")
    assert api.info(queue)["in_flight"] == 0


async def test_close_with_half_served_count_want(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """Closing with a count want half served cancels it: nothing lost, nothing duplicated."""
    for i in range(3):
        put_item(api, queue, f"v{i}")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send(ws, {"identifier": "half", "queue": queue, "count": 6, "lease": 60})
        delivered = [(await recv_delivery(ws))[1] for _ in range(3)]
        assert [item["value"] for item in delivered] == ["v0", "v1", "v2"]
        api.wait_for_consumers(queue, 1)
    api.wait_for_consumers(queue, 0, timeout=2.0)
    wait_until(lambda: api.info(queue)["in_flight"] == 0, timeout=1.0, what="release on close")
    # once no longer in flight, the released items are ready, at the front of the queue
    assert api.info(queue)["size"] == 3
    later = [put_item(api, queue, f"w{i}") for i in range(2)]
    info = api.info(queue)
    assert (info["size"], info["in_flight"]) == (5, 0)
    items = take_with(api, queue, count=10).ok()
    # released last-delivered first, so they are back in their order
    assert [item["value"] for item in items[:3]] == ["v0", "v1", "v2"]
    assert [item["id"] for item in items[3:]] == later
    assert len({item["id"] for item in items}) == 5


async def test_close_with_half_served_count_want_without_lease(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """Without lease, delivered items are gone and the cancelled want takes no later put."""
    put_item(api, queue, "v0")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send(ws, {"identifier": "half", "queue": queue, "count": 4})
        assert (await recv_delivery(ws))[1]["value"] == "v0"
        api.wait_for_consumers(queue, 1)
    api.wait_for_consumers(queue, 0, timeout=2.0)
    put_item(api, queue, "w0")
    put_item(api, queue, "w1")
    assert api.drain(queue) == ["w0", "w1"]


async def test_close_releases_leases_on_several_queues(
    api: Api, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """Every lease of the closing connection is released, whatever its queue."""
    queues = [api.new_queue() for _ in range(2)]
    for q in queues:
        put_item(api, q, f"in {q}")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        for n, q in enumerate(queues):
            await send(ws, {"identifier": f"w{n}", "queue": q, "lease": 60})
        for _ in queues:
            await recv_delivery(ws)
    for q in queues:
        wait_until(lambda q=q: api.info(q)["size"] == 1, timeout=1.0, what=f"release in {q}")
        assert take_with(api, q, lease=5).ok()["attempts"] == 2


async def test_count_want_with_key(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A count want with a key is served only items of that key (case-insensitive)."""
    put_item(api, queue, "other", key="x")
    put_item(api, queue, "mine0", key="Me")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send(ws, {"identifier": "k", "queue": queue, "key": "me", "count": 2})
        assert (await recv_delivery(ws))[1]["value"] == "mine0"
        api.wait_for_consumers(queue, 1)
        put_item(api, queue, "other2", key="y")
        put_item(api, queue, "mine1", key="ME")
        assert (await recv_delivery(ws))[1]["value"] == "mine1"
        await assert_silent(ws, 0.3)
    assert api.drain(queue) == ["other", "other2"]


async def test_waiting_leased_want_gets_a_later_put_leased(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A leased want waiting on an empty queue gets the next put, leased and in flight."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send(ws, {"identifier": "lw", "queue": queue, "lease": 30})
        api.wait_for_consumers(queue, 1)
        item_id = put_item(api, queue, "fresh", key="k")
        identifier, item = await recv_delivery(ws)
        assert (identifier, item["id"], item["value"]) == ("lw", item_id, "fresh")
        check_leased(item, 30)
        info = api.info(queue)
        assert (info["size"], info["in_flight"], info["consumers"]) == (0, 1, 0)
        await send_op(ws, "ack", "ack", queue, id=item_id)
        assert (await recv_reply(ws, "ack"))["success"] is True
    assert api.info(queue)["acked"] == 1


async def test_acks_sent_just_before_the_connection_drops_are_all_kept(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """Acks the server received before the peer went away count, even though their
    answers can no longer be written: nothing acked comes back."""
    count = 40
    for i in range(count):
        put_item(api, queue, f"v{i}")
    ws = await http.ws_connect(ws_url(open_server.url))
    await send(ws, {"identifier": "all", "queue": queue, "count": count, "lease": 60})
    items = [(await recv_delivery(ws))[1] for _ in range(count)]
    for item in items:
        await send_op(ws, "ack", item["id"], queue, id=item["id"])
    ws._response.connection.transport.close()  # type: ignore[union-attr]  # no close frame
    wait_until(lambda: api.info(queue)["in_flight"] == 0, timeout=5.0, what="connection end")
    info = api.info(queue)
    assert (info["size"], info["acked"]) == (0, count), info
