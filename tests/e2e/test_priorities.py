"""Priorities (API.md Part 3 "Priorities"): `priority=0..9` on a put; a take returns the
oldest matching item of the highest priority present; items carry `priority` when it is
not 0, on every take, peek and delivery, after a release, a dead letter and a restart.
On every backend."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import pytest

from .conftest import StartServer
from .helpers import (
    Api,
    Server,
    create_queue,
    durable_config,
    lease_call,
    put_item,
    recv_delivery,
    recv_reply,
    send_op,
    take_leased,
    take_with,
    ws_url,
)


def test_the_highest_priority_is_taken_first(api: Api, queue: str) -> None:
    """Within a priority FIFO; across them the highest first; 0 is left out of items."""
    for value, priority in [("a0", 0), ("b5", 5), ("c9", 9), ("d5", 5), ("e0", 0)]:
        put_item(api, queue, value, priority=priority)
    assert api.peek(queue).ok()["priority"] == 9
    taken = take_with(api, queue, count=5).ok()
    assert [(t["value"], t.get("priority")) for t in taken] == [
        ("c9", 9), ("b5", 5), ("d5", 5), ("a0", None), ("e0", None),
    ]  # fmt: skip


def test_keyed_takes_and_releases_keep_priority_order(api: Api, queue: str) -> None:
    """A keyed take: the oldest with that key of its highest priority. A released item
    goes back to the front of its own priority, not of the queue."""
    put_item(api, queue, "k-low", "k")
    put_item(api, queue, "other-high", "o", priority=8)
    put_item(api, queue, "k-high", "K", priority=3)
    assert take_with(api, queue, "k").ok()["value"] == "k-high"
    put_item(api, queue, "mid", priority=5)
    leased = take_leased(api, queue, 30)
    assert (leased["value"], leased["priority"]) == ("other-high", 8)
    lease_call(api, "release", queue, None, receipt=leased["receipt"], delay=0).ok()
    put_item(api, queue, "later-high", priority=8)
    assert [t["value"] for t in take_with(api, queue, count=4).ok()] == [
        "other-high", "later-high", "mid", "k-low",
    ]  # fmt: skip


def test_batches_json_and_dead_letters_carry_priority(api: Api) -> None:
    letters = api.new_queue()
    queue = create_queue(api, max_attempts=1, dead_letter=letters)
    items = [{"value": "low"}, {"value": "high", "priority": 7}]
    api.call("POST", "/put", json_body={"name": queue, "items": items}).ok()
    api.call("POST", "/put", json_body={"name": queue, "value": "json", "priority": 2}).ok()
    leased = take_leased(api, queue, 30)
    assert leased["value"] == "high"
    lease_call(api, "release", queue, None, receipt=leased["receipt"], delay=0).ok()
    assert api.peek(letters).ok()["priority"] == 7
    api.call("POST", "/redrive", data={"name": letters}).ok()
    assert [t["value"] for t in take_with(api, queue, count=3).ok()] == ["high", "json", "low"]


@pytest.mark.parametrize("bad", ["10", "-1", "1.5", "x", "99999999999"])
def test_bad_priorities_are_refused(api: Api, queue: str, bad: str) -> None:
    put = {"name": queue, "value": "v", "priority": bad}
    api.call("POST", "/put", data=put).error(400, "invalid parameter 'priority'")
    batch = {"name": queue, "items": [{"value": "v", "priority": 10}]}
    api.call("POST", "/put", json_body=batch).error(400, "items[0]: invalid parameter 'priority'")
    assert api.info(queue)["size"] == 0


async def test_websocket_puts_and_deliveries_carry_priority(
    open_server: Server, api: Api, queue: str, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_op(ws, "put", "p1", queue, value="low")
        await recv_reply(ws, "p1")
        await send_op(ws, "put", "p2", queue, value="high", priority=9)
        await recv_reply(ws, "p2")
        await send_op(ws, "put", "bad", queue, value="v", priority=10)
        error = json.loads(await ws.receive_str(timeout=5))
        assert (error["success"], error["message"]) == (False, "invalid parameter 'priority'")
        await ws.send_str(json.dumps({"identifier": "w", "queue": queue, "count": 2}))
        first = await recv_delivery(ws, 5)
        second = await recv_delivery(ws, 5)
        assert [first[1]["value"], second[1]["value"]] == ["high", "low"]
        assert first[1]["priority"] == 9 and "priority" not in second[1]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_priorities_survive_a_restart(start_server: StartServer, tmp_path: Path, kind: str) -> None:
    with ExitStack() as stack:
        server = start_server(durable_config(kind, stack), directory=tmp_path / "node")
        with Api(server.url) as api:
            queue = api.new_queue()
            for value, priority in [("a", 0), ("b", 4), ("c", 4), ("d", 9)]:
                put_item(api, queue, value, priority=priority)
        server.stop()
        server = start_server(server.config, directory=tmp_path / "node")
        with Api(server.url) as api:
            taken = take_with(api, queue, count=4).ok()
            assert [(t["value"], t.get("priority", 0)) for t in taken] == [
                ("d", 9), ("b", 4), ("c", 4), ("a", 0),
            ]  # fmt: skip
        server.stop()
