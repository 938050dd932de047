"""Put options (API.md Part 2): `delay`, `ttl` and `dedup_id`."""

from __future__ import annotations

import time

import pytest

from .helpers import Api, put_item, take_eventually, take_leased, take_with, wait_until


def test_delayed_item_is_invisible_until_its_time(api: Api, queue: str) -> None:
    """delay=S: take/peek → 404 and info counts it as delayed until S passed, then takeable."""
    put_at = time.monotonic()
    item_id = put_item(api, queue, "later", key="k", delay=0.6)
    api.take(queue).error(404, "no item to take")
    api.peek(queue).error(404, "no item to peek")
    api.take(queue, key="k").error(404, "no item to take")
    info = api.info(queue)
    assert (info["size"], info["delayed"]) == (0, 1)
    item = take_eventually(api, queue, timeout=2.0)
    assert time.monotonic() - put_at >= 0.5, "a delayed item was visible too early"
    assert (item["id"], item["key"], item["value"]) == (item_id, "k", "later")
    info = api.info(queue)
    assert (info["size"], info["delayed"]) == (0, 0)


def test_delayed_item_does_not_block_the_queue(api: Api, queue: str) -> None:
    """Items put after a delayed one are served while it waits; it then comes in its turn."""
    put_item(api, queue, "delayed", delay=0.5)
    put_item(api, queue, "ready")
    assert api.take_item(queue)["value"] == "ready"
    api.take(queue).error(404, "no item to take")
    assert take_eventually(api, queue, timeout=2.0)["value"] == "delayed"


def test_delay_zero_is_immediate(api: Api, queue: str) -> None:
    """delay=0 is allowed and the item is ready at once."""
    put_item(api, queue, "now", delay=0)
    assert api.info(queue)["size"] == 1
    assert api.take_item(queue)["value"] == "now"


def test_delay_in_json_body_as_number(api: Api, queue: str) -> None:
    """In a JSON body, delay may be a JSON number."""
    api.call("POST", "/put", json_body={"name": queue, "value": "json", "delay": 0.4}).ok()
    api.take(queue).error(404, "no item to take")
    assert api.info(queue)["delayed"] == 1
    assert take_eventually(api, queue, timeout=2.0)["value"] == "json"


def test_delayed_item_can_be_leased_when_ready(api: Api, queue: str) -> None:
    """A delayed item, once visible, is leased like any other (attempts 1)."""
    put_item(api, queue, "job", delay=0.3)
    item = take_eventually(api, queue, timeout=2.0, lease=30)
    assert (item["value"], item["attempts"]) == ("job", 1)
    assert api.info(queue)["in_flight"] == 1


@pytest.mark.parametrize("bad", ["-1", "604800.5", "abc", "nan", "inf", ""])
def test_invalid_delay(api: Api, queue: str, bad: str) -> None:
    """delay outside [0, 604800] or not a number → 400 invalid parameter 'delay'; nothing stored."""
    api.call("POST", "/put", data={"name": queue, "value": "v", "delay": bad}).error(
        400, "invalid parameter 'delay'"
    )
    info = api.info(queue)
    assert (info["size"], info["delayed"], info["put"]) == (0, 0, 0)


def test_delay_upper_bound_is_accepted(api: Api, queue: str) -> None:
    """delay=604800 (a week) is accepted and keeps the item delayed."""
    put_item(api, queue, "next week", delay=604800)
    api.take(queue).error(404, "no item to take")
    assert api.info(queue)["delayed"] == 1


def test_ttl_drops_an_item_left_in_the_queue(api: Api, queue: str) -> None:
    """ttl=S: the item is takeable at first; still queued after S it is dropped and counted."""
    put_item(api, queue, "fleeting", ttl=0.4)
    put_item(api, queue, "lasting")
    assert api.peek(queue).ok()["value"] == "fleeting"

    def dropped() -> bool:
        return bool(api.peek(queue).ok()["value"] == "lasting")

    wait_until(dropped, timeout=2.0, what="ttl expiry")
    info = api.info(queue)
    assert (info["size"], info["expired"]) == (1, 1)
    assert api.take_item(queue)["value"] == "lasting"
    api.take(queue).error(404, "no item to take")


def test_ttl_item_taken_in_time_is_delivered(api: Api, queue: str) -> None:
    """An item taken before its ttl is delivered normally and not counted as expired."""
    put_item(api, queue, "quick", ttl=5)
    assert api.take_item(queue)["value"] == "quick"
    assert api.info(queue)["expired"] == 0


def test_ttl_alone_in_queue(api: Api, queue: str) -> None:
    """After the ttl, take → 404 no item to take."""
    put_item(api, queue, "gone", ttl=0.3)
    time.sleep(0.4)
    wait_until(lambda: api.info(queue)["expired"] == 1, timeout=1.5, what="expired count")
    api.take(queue).error(404, "no item to take")
    api.peek(queue).error(404, "no item to peek")
    assert api.info(queue)["size"] == 0


@pytest.mark.parametrize("bad", ["0", "-1", "31536000.5", "abc", "nan", "inf", ""])
def test_invalid_ttl(api: Api, queue: str, bad: str) -> None:
    """ttl outside (0, 31536000] or not a number → 400 invalid parameter 'ttl'; nothing stored."""
    api.call("POST", "/put", data={"name": queue, "value": "v", "ttl": bad}).error(
        400, "invalid parameter 'ttl'"
    )
    assert api.info(queue)["put"] == 0


def test_dedup_id_returns_the_first_items_id(api: Api, queue: str) -> None:
    """A second put with the same dedup_id stores nothing and returns the first item's id."""
    first = put_item(api, queue, "original", dedup_id="order-1")
    second = put_item(api, queue, "retry", dedup_id="order-1")
    assert second == first
    assert api.info(queue)["size"] == 1
    item = api.take_item(queue)
    assert (item["id"], item["value"]) == (first, "original")
    api.take(queue).error(404, "no item to take")


def test_dedup_id_holds_after_the_item_was_taken(api: Api, queue: str) -> None:
    """The dedup window survives a take (plain or leased and acked): the retry stores nothing."""
    first = put_item(api, queue, "once", dedup_id="pay-1")
    api.take_item(queue)
    assert put_item(api, queue, "once", dedup_id="pay-1") == first
    api.take(queue).error(404, "no item to take")
    leased = put_item(api, queue, "twice", dedup_id="pay-2")
    item = take_leased(api, queue, 30)
    api.call("POST", "/ack", data={"name": queue, "id": item["id"]}).ok()
    assert put_item(api, queue, "twice", dedup_id="pay-2") == leased
    api.take(queue).error(404, "no item to take")
    assert api.info(queue)["size"] == 0


def test_dedup_id_is_per_queue_and_per_id(api: Api, queue: str) -> None:
    """Different dedup_ids, or the same one on another queue, store new items."""
    other = api.new_queue()
    a = put_item(api, queue, "a", dedup_id="x")
    b = put_item(api, queue, "b", dedup_id="y")
    c = put_item(api, other, "c", dedup_id="x")
    d = put_item(api, queue, "d")
    assert len({a, b, d}) == 3
    assert api.drain(queue) == ["a", "b", "d"]
    assert api.take_item(other) == {"key": None, "value": "c", "id": c}


def test_delay_ttl_and_dedup_together(api: Api, queue: str) -> None:
    """Options combine: a delayed, deduplicated item becomes visible once, after its delay."""
    first = put_item(api, queue, "combo", delay=0.4, ttl=60, dedup_id="c-1")
    assert put_item(api, queue, "combo", delay=0.4, ttl=60, dedup_id="c-1") == first
    assert api.info(queue)["delayed"] == 1
    item = take_eventually(api, queue, timeout=2.0)
    assert item["id"] == first
    api.take(queue).error(404, "no item to take")


def test_put_options_in_query_string(api: Api, queue: str) -> None:
    """Options are read from the query string too."""
    params = {"name": queue, "value": "q", "delay": "0.3", "dedup_id": "q-1"}
    first = api.call("POST", "/put", params=params).ok()["id"]
    assert api.call("POST", "/put", params=params).ok()["id"] == first
    assert api.info(queue)["delayed"] == 1
    take_with(api, queue).error(404, "no item to take")
    assert take_eventually(api, queue, timeout=2.0)["id"] == first
