"""`/purge`, queue information (API.md Part 2), queue settings and `max_items`."""

from __future__ import annotations

import json
import time
from datetime import datetime

import aiohttp
import pytest

from .helpers import (
    Api,
    Server,
    create_queue,
    lease_call,
    put_item,
    recv_reply,
    send_op,
    take_leased,
    ws_url,
)

UNKNOWN_QUEUE = "2a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"
INFO_FIELDS = {
    "name",
    "size",
    "delayed",
    "in_flight",
    "consumers",
    "created",
    "lease",
    "max_attempts",
    "dead_letter",
    "max_items",
    "put",
    "taken",
    "acked",
    "expired",
    "dead_lettered",
}


def test_purge_removes_ready_and_delayed_not_in_flight(api: Api, queue: str) -> None:
    """purge → {"purged": n} for ready + delayed items; a leased item survives and can be acked."""
    put_item(api, queue, "leased")
    leased = take_leased(api, queue, 30)
    put_item(api, queue, "r1")
    put_item(api, queue, "r2", key="k")
    put_item(api, queue, "d1", delay=30)
    assert api.call("POST", "/purge", data={"name": queue}).ok() == {"purged": 3}
    info = api.info(queue)
    assert (info["size"], info["delayed"], info["in_flight"]) == (0, 0, 1)
    api.take(queue).error(404, "no item to take")
    assert lease_call(api, "ack", queue, leased["id"]).ok() is None
    assert api.call("POST", "/purge", data={"name": queue}).ok() == {"purged": 0}


def test_purged_queue_takes_new_items(api: Api, queue: str) -> None:
    """A purged queue keeps working: new puts are taken normally."""
    put_item(api, queue, "old")
    assert api.call("POST", "/purge", data={"name": queue}).ok() == {"purged": 1}
    put_item(api, queue, "new")
    assert api.drain(queue) == ["new"]


def test_released_item_after_purge_comes_back(api: Api, queue: str) -> None:
    """An in-flight item released after a purge returns to the (emptied) queue."""
    put_item(api, queue, "flying")
    put_item(api, queue, "purged")
    leased = take_leased(api, queue, 30)
    api.call("POST", "/purge", data={"name": queue}).ok()
    assert lease_call(api, "release", queue, leased["id"]).ok() is None
    assert api.drain(queue) == ["flying"]


def test_purge_errors(api: Api) -> None:
    """purge of a missing queue → 404; without name → 400 missing parameter 'name'."""
    api.call("POST", "/purge", data={"name": UNKNOWN_QUEUE}).error(404, "queue does not exist")
    api.call("POST", "/purge", data={}).error(400, "missing parameter 'name'")


def test_info_fields_of_a_plain_queue(api: Api, queue: str) -> None:
    """Queue info has every Part 2 field; settings null, counts zero on a fresh queue."""
    info = api.info(queue)
    assert set(info) >= INFO_FIELDS, INFO_FIELDS - set(info)
    assert info["name"] == queue
    for setting in ("lease", "max_attempts", "dead_letter", "max_items"):
        assert info[setting] is None, (setting, info)
    for count in ("size", "delayed", "in_flight", "consumers"):
        assert info[count] == 0, (count, info)
    for total in ("put", "taken", "acked", "expired", "dead_lettered"):
        assert info[total] == 0, (total, info)
    created = datetime.fromisoformat(info["created"].replace("Z", "+00:00"))
    assert abs(created.timestamp() - time.time()) < 600, info["created"]


def test_info_counts_follow_the_items(api: Api, queue: str) -> None:
    """size/delayed/in_flight and the put/taken/acked totals follow puts, takes and acks."""
    put_item(api, queue, "plain")
    put_item(api, queue, "leased")
    put_item(api, queue, "acked")
    put_item(api, queue, "waiting", delay=30)
    info = api.info(queue)
    assert (info["size"], info["delayed"], info["put"]) == (3, 1, 4)
    api.take_item(queue)
    take_leased(api, queue, 30)
    acked = take_leased(api, queue, 30)
    lease_call(api, "ack", queue, acked["id"]).ok()
    info = api.info(queue)
    assert (info["size"], info["delayed"], info["in_flight"]) == (0, 1, 1)
    assert (info["put"], info["taken"], info["acked"]) == (4, 3, 1)


def test_queue_settings_in_info(api: Api) -> None:
    """Settings given on creation are reported by info, with their types."""
    dead = api.new_queue()
    queue = create_queue(api, lease=2.5, max_attempts=4, dead_letter=dead, max_items=10)
    info = api.info(queue)
    assert (info["lease"], info["max_attempts"], info["dead_letter"], info["max_items"]) == (
        2.5,
        4,
        dead,
        10,
    )


def test_queue_settings_in_json_body(api: Api) -> None:
    """Settings may be JSON numbers or numeric strings in a JSON body."""
    first = api.call("POST", "/queues", json_body={"lease": 3, "max_items": "7"}).ok()
    second = api.call("POST", "/queues", json_body={"lease": "1.5", "max_attempts": 2}).ok()
    a, b = api.info(first), api.info(second)
    assert (a["lease"], a["max_items"]) == (3, 7)
    assert (b["lease"], b["max_attempts"]) == (1.5, 2)


def test_creating_an_existing_queue_keeps_its_settings(api: Api) -> None:
    """POST /queues with an existing name and no settings, or its own, returns it unchanged;
    other settings are 409 `queue exists with other settings` (API.md Part 3)."""
    name = "3b8c9d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"
    assert create_queue(api, name, lease=5, max_items=3) == name
    put_item(api, name, "kept")
    data = {"name": name, "lease": "9", "max_items": "100", "max_attempts": "2"}
    api.call("POST", "/queues", data=data).error(409, "queue exists with other settings")
    api.call("POST", "/queues", data={"name": name, "lease": "5"}).error(
        409, "queue exists with other settings"
    )
    assert create_queue(api, name, lease=5, max_items=3) == name
    assert api.new_queue(name) == name
    info = api.info(name)
    assert (info["lease"], info["max_items"], info["max_attempts"]) == (5, 3, None)
    assert info["size"] == 1


@pytest.mark.parametrize(
    ("setting", "bad"),
    [
        ("lease", "0"),
        ("lease", "-2"),
        ("lease", "43201"),
        ("lease", "abc"),
        ("lease", "nan"),
        ("max_items", "0"),
        ("max_items", "-1"),
        ("max_items", "2.5"),
        ("max_items", "many"),
    ],
)
def test_invalid_queue_settings(api: Api, setting: str, bad: str) -> None:
    """A bad lease or max_items on creation → 400 invalid parameter '<name>'; no queue made."""
    before = api.queues()
    api.call("POST", "/queues", data={setting: bad}).error(400, f"invalid parameter '{setting}'")
    assert api.queues() == before


def test_max_items_refuses_puts_when_full(api: Api) -> None:
    """A put to a queue holding max_items items → 429 queue is full, nothing stored."""
    queue = create_queue(api, max_items=2)
    put_item(api, queue, "a")
    put_item(api, queue, "b")
    api.call("POST", "/put", data={"name": queue, "value": "c"}).error(429, "queue is full")
    info = api.info(queue)
    assert (info["size"], info["put"]) == (2, 2)
    api.take_item(queue)
    put_item(api, queue, "c")
    assert api.drain(queue) == ["b", "c"]


def test_max_items_counts_delayed_and_in_flight(api: Api) -> None:
    """max_items counts ready, delayed and in-flight items; an ack makes room."""
    queue = create_queue(api, max_items=3)
    put_item(api, queue, "leased")
    leased = take_leased(api, queue, 30)
    put_item(api, queue, "delayed", delay=30)
    put_item(api, queue, "ready")
    api.call("POST", "/put", data={"name": queue, "value": "x"}).error(429, "queue is full")
    batch = {"name": queue, "items": [{"value": "y"}]}
    api.call("POST", "/put", json_body=batch).error(429, "queue is full")
    lease_call(api, "ack", queue, leased["id"]).ok()
    put_item(api, queue, "room")
    info = api.info(queue)
    assert (info["size"], info["delayed"], info["in_flight"], info["put"]) == (2, 1, 0, 4)


async def test_max_items_over_websocket_put(
    api: Api, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """A WebSocket put to a full queue → error `queue is full` with the identifier."""
    queue = create_queue(api, max_items=1)
    put_item(api, queue, "only")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_op(ws, "put", "full", queue, value="more")
        reply = await recv_reply(ws, "full")
    payload = {"id": "full", "status": 429}
    assert reply == {"success": False, "message": "queue is full", "payload": payload}
    assert api.info(queue)["size"] == 1


async def test_consumers_counts_open_wants(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """info consumers counts the open WebSocket wants, a count want as one."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await ws.send_str(json.dumps({"identifier": "a", "queue": queue}))
        await ws.send_str(json.dumps({"identifier": "b", "queue": queue, "count": 5}))
        api.wait_for_consumers(queue, 2)
    api.wait_for_consumers(queue, 0)
