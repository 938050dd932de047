"""Batches (API.md Part 2): JSON `items` on put (all or none), `count` on take."""

from __future__ import annotations

import time
from typing import Any

import pytest

from .helpers import Api, Reply, lease_call, put_item, take_eventually, take_with

MIB = 1024 * 1024


def batch_put(api: Api, queue: str, items: Any) -> Reply:
    return api.call("POST", "/put", json_body={"name": queue, "items": items})


def test_batch_put_returns_ids_in_order(api: Api, queue: str) -> None:
    """A batch put stores every item in order and returns {"ids": [...]} in the same order."""
    items = [{"value": f"v{i}", "key": "odd" if i % 2 else None} for i in range(6)]
    for item in items:
        if item["key"] is None:
            del item["key"]
    payload = batch_put(api, queue, items).ok()
    assert set(payload) == {"ids"}, payload
    ids = payload["ids"]
    assert len(ids) == 6 and len(set(ids)) == 6 and all(isinstance(i, str) for i in ids)
    taken = [api.take_item(queue) for _ in range(6)]
    assert [item["value"] for item in taken] == [f"v{i}" for i in range(6)]
    assert [item["id"] for item in taken] == ids
    assert [item["key"] for item in taken] == [None, "odd", None, "odd", None, "odd"]
    assert api.info(queue)["put"] == 6


def test_batch_put_appends_after_existing_items(api: Api, queue: str) -> None:
    """A batch goes to the back of the queue, after items put earlier."""
    put_item(api, queue, "before")
    batch_put(api, queue, [{"value": "b1"}, {"value": "b2"}]).ok()
    put_item(api, queue, "after")
    assert api.drain(queue) == ["before", "b1", "b2", "after"]


def test_batch_of_one_thousand(api: Api, queue: str) -> None:
    """1000 items (the maximum) in one batch are all stored."""
    items = [{"value": str(i)} for i in range(1000)]
    ids = batch_put(api, queue, items).ok()["ids"]
    assert len(ids) == 1000 and len(set(ids)) == 1000
    assert api.info(queue)["size"] == 1000
    first = take_with(api, queue, count=1000).ok()
    assert [item["value"] for item in first] == [str(i) for i in range(1000)]


BAD_ITEMS = {
    "missing value": {"key": "k"},
    "number value": {"value": 5},
    "null value": {"value": None},
    "value too large": {"value": "x" * (MIB + 1)},
    "number key": {"value": "v", "key": 7},
    "not an object": "just a string",
    "bad delay": {"value": "v", "delay": -1},
    "bad ttl": {"value": "v", "ttl": 0},
}


@pytest.mark.parametrize("bad", sorted(BAD_ITEMS))
def test_batch_with_one_bad_item_stores_nothing(api: Api, queue: str, bad: str) -> None:
    """One bad item → 400 with a message starting `items[<index>]: `, and nothing stored."""
    items: list[Any] = [{"value": "good0"}, {"value": "good1"}, BAD_ITEMS[bad], {"value": "good3"}]
    reply = batch_put(api, queue, items)
    assert reply.status == 400, reply.body
    assert reply.message is not None and reply.message.startswith("items[2]: "), reply.message
    info = api.info(queue)
    assert (info["size"], info["delayed"], info["put"]) == (0, 0, 0)
    api.take(queue).error(404, "no item to take")


def test_batch_error_names_the_first_bad_index(api: Api, queue: str) -> None:
    """The index in the message is that of the bad item (here the first one)."""
    reply = batch_put(api, queue, [{"nothing": "here"}, {"value": "ok"}])
    assert reply.status == 400
    assert reply.message is not None and reply.message.startswith("items[0]: "), reply.message
    assert api.info(queue)["size"] == 0


@pytest.mark.parametrize(
    "items",
    [[], "not a list", {"value": "v"}, 5, None, [{"value": "v"}] * 1001],
    ids=["empty", "string", "object", "number", "null", "1001 items"],
)
def test_batch_items_must_be_a_list_of_1_to_1000(api: Api, queue: str, items: Any) -> None:
    """items empty, not a list, or longer than 1000 → 400 invalid parameter 'items'."""
    api.call("POST", "/put", json_body={"name": queue, "items": items}).error(
        400, "invalid parameter 'items'"
    )
    assert api.info(queue)["put"] == 0


def test_batch_put_to_unknown_queue(api: Api) -> None:
    """A batch to a queue that does not exist → 404 queue does not exist."""
    batch_put(api, "9d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f6a", [{"value": "v"}]).error(
        404, "queue does not exist"
    )


def test_batch_item_options(api: Api, queue: str) -> None:
    """Batch items may carry delay, ttl and dedup_id, with the single-put meaning."""
    earlier = put_item(api, queue, "earlier", dedup_id="d-1")
    items = [
        {"value": "now"},
        {"value": "later", "delay": 0.5},
        {"value": "dup", "dedup_id": "d-1"},
        {"value": "short", "ttl": 0.8},
    ]
    put_at = time.monotonic()
    ids = batch_put(api, queue, items).ok()["ids"]
    assert len(ids) == 4
    assert ids[2] == earlier
    info = api.info(queue)
    assert (info["size"], info["delayed"]) == (3, 1)
    assert api.take_item(queue)["value"] == "earlier"
    assert api.take_item(queue)["value"] == "now"
    time.sleep(max(0.0, put_at + 0.9 - time.monotonic()))
    later = take_eventually(api, queue, timeout=2.0)
    assert later["value"] == "later"  # "short" expired meanwhile
    api.take(queue).error(404, "no item to take")
    assert api.info(queue)["expired"] == 1


def test_take_count_returns_fifo_array(api: Api, queue: str) -> None:
    """take count=n → an array of up to n items, oldest first; then the rest; then []."""
    ids = [put_item(api, queue, f"v{i}") for i in range(5)]
    first = take_with(api, queue, count=3).ok()
    assert [item["value"] for item in first] == ["v0", "v1", "v2"]
    assert [item["id"] for item in first] == ids[:3]
    rest = take_with(api, queue, count=10).ok()
    assert [item["value"] for item in rest] == ["v3", "v4"]
    reply = take_with(api, queue, count=5)
    assert reply.status == 200 and reply.ok() == []
    assert api.info(queue)["taken"] == 5


def test_take_count_one_is_an_array(api: Api, queue: str) -> None:
    """count=1 still answers with an array."""
    item_id = put_item(api, queue, "single", key="k")
    assert take_with(api, queue, count=1).ok() == [{"key": "k", "value": "single", "id": item_id}]


def test_take_count_zero_is_empty_at_once(api: Api, queue: str) -> None:
    """count=0 → [] at once, items untouched, even with wait."""
    put_item(api, queue, "untouched")
    assert take_with(api, queue, count=0).ok() == []
    started = time.monotonic()
    assert take_with(api, api.new_queue(), count=0, wait=5).ok() == []
    assert time.monotonic() - started < 1.0
    assert api.info(queue)["size"] == 1


def test_take_count_on_unknown_queue(api: Api) -> None:
    """take count=n on a missing queue → 404 queue does not exist, not []."""
    take_with(api, "0e5f6a7b-8c9d-4e0f-9a1b-2c3d4e5f6a7b", count=3).error(
        404, "queue does not exist"
    )


def test_take_count_with_lease(api: Api, queue: str) -> None:
    """count with lease: every returned item is leased; each can be acked on its own."""
    for i in range(4):
        put_item(api, queue, f"v{i}")
    before = time.time()
    items = take_with(api, queue, count=3, lease=30).ok()
    assert [item["value"] for item in items] == ["v0", "v1", "v2"]
    for item in items:
        assert item["attempts"] == 1
        assert abs(item["lease_expires"] - (before + 30)) < 2.0
    info = api.info(queue)
    assert (info["size"], info["in_flight"]) == (1, 3)
    for item in items:
        assert lease_call(api, "ack", queue, item["id"]).ok() is None
    assert api.info(queue)["in_flight"] == 0


def test_take_count_with_key(api: Api, queue: str) -> None:
    """count with key returns only the matching items (case-insensitive), in order."""
    for i in range(6):
        put_item(api, queue, f"v{i}", key="A" if i % 2 else "b")
    items = take_with(api, queue, "a", count=10).ok()
    assert [item["value"] for item in items] == ["v1", "v3", "v5"]
    assert api.drain(queue) == ["v0", "v2", "v4"]


@pytest.mark.parametrize("bad", ["-1", "1001", "1.5", "abc", "nan", ""])
def test_invalid_count(api: Api, queue: str, bad: str) -> None:
    """count that is not an integer in [0, 1000] → 400 invalid parameter 'count'."""
    put_item(api, queue, "stays")
    take_with(api, queue, count=bad).error(400, "invalid parameter 'count'")
    assert api.info(queue)["size"] == 1


def test_count_in_json_body(api: Api, queue: str) -> None:
    """In a JSON body count may be a number or a numeric string."""
    for i in range(3):
        put_item(api, queue, f"v{i}")
    one = api.call("POST", "/take", json_body={"name": queue, "count": 1}).ok()
    two = api.call("POST", "/take", json_body={"name": queue, "count": "2"}).ok()
    assert [item["value"] for item in one + two] == ["v0", "v1", "v2"]
