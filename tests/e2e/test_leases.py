"""Leases (API.md Part 2): take with `lease`, `/ack`, `/release`, `/touch`, expiry, attempts."""

from __future__ import annotations

import time

import pytest

from .helpers import (
    Api,
    create_queue,
    lease_call,
    put_item,
    take_eventually,
    take_leased,
    take_with,
    wait_until,
)

UNKNOWN_QUEUE = "5f0c2a7e-1d3b-4c5a-8e6f-7a8b9c0d1e2f"
BAD_LEASES = ["0", "-1", "abc", "nan", "inf", "-inf", "43200.5", "1e9", ""]


def test_leased_take_returns_id_attempts_and_expiry(api: Api, queue: str) -> None:
    """A leased take returns the item with its id, attempts 1 and lease_expires ≈ now+lease."""
    item_id = put_item(api, queue, "v", key="k")
    item = take_leased(api, queue, 1)
    assert (item["id"], item["key"], item["value"], item["attempts"]) == (item_id, "k", "v", 1)
    info = api.info(queue)
    assert (info["size"], info["in_flight"]) == (0, 1)


def test_leased_item_is_invisible_while_in_flight(api: Api, queue: str) -> None:
    """An item in flight can be neither taken nor peeked; the next item is served instead."""
    put_item(api, queue, "first")
    take_leased(api, queue, 5)
    api.take(queue).error(404, "no item to take")
    api.peek(queue).error(404, "no item to peek")
    put_item(api, queue, "second")
    assert api.take_item(queue)["value"] == "second"


def test_take_without_lease_is_part_one(api: Api, queue: str) -> None:
    """A take without lease on a queue without default lease removes the item: no lease fields."""
    item_id = put_item(api, queue, "gone", key="k")
    item = api.take_item(queue)
    assert item == {"key": "k", "value": "gone", "id": item_id}
    info = api.info(queue)
    assert (info["size"], info["in_flight"]) == (0, 0)
    lease_call(api, "ack", queue, item_id).error(404, "no such lease")


def test_ack_removes_the_item_for_good(api: Api, queue: str) -> None:
    """ack → null; the item never comes back, a second ack → 404 no such lease."""
    put_item(api, queue, "acked")
    item = take_leased(api, queue, 0.6)
    assert lease_call(api, "ack", queue, item["id"]).ok() is None
    info = api.info(queue)
    assert (info["size"], info["in_flight"], info["acked"]) == (0, 0, 1)
    lease_call(api, "ack", queue, item["id"]).error(404, "no such lease")
    time.sleep(max(0.0, item["lease_expires"] - time.time()) + 0.4)
    api.take(queue).error(404, "no item to take")
    assert api.info(queue)["in_flight"] == 0


@pytest.mark.parametrize("op", ["ack", "release", "touch"])
def test_lease_calls_on_unknown_lease_queue_or_without_id(api: Api, queue: str, op: str) -> None:
    """ack/release/touch: unknown id → 404 no such lease, unknown queue → 404, no id → 400."""
    extra = {"lease": 1} if op == "touch" else {}
    lease_call(api, op, queue, "no-such-item-id", **extra).error(404, "no such lease")
    put_item(api, queue, "v")
    item = take_leased(api, queue, 5)
    lease_call(api, op, UNKNOWN_QUEUE, item["id"], **extra).error(404, "queue does not exist")
    lease_call(api, op, queue, None, **extra).error(400, "missing parameter 'id'")
    other = api.new_queue()
    lease_call(api, op, other, item["id"], **extra).error(404, "no such lease")
    assert api.info(queue)["in_flight"] == 1


def test_lease_call_on_plain_taken_item(api: Api, queue: str) -> None:
    """release/touch of an item taken without lease (already removed) → 404 no such lease."""
    item_id = put_item(api, queue, "v")
    api.take_item(queue)
    lease_call(api, "release", queue, item_id).error(404, "no such lease")
    lease_call(api, "touch", queue, item_id, lease=1).error(404, "no such lease")
    api.take(queue).error(404, "no item to take")


def test_expired_lease_returns_item_to_the_front(api: Api, queue: str) -> None:
    """An expired lease puts the item back at the front of its queue, not before its time."""
    put_item(api, queue, "a")
    put_item(api, queue, "b")
    item = take_leased(api, queue, 0.6)
    assert item["value"] == "a"
    assert api.peek(queue).ok()["value"] == "b"

    def a_is_back() -> bool:
        return bool(api.peek(queue).ok()["value"] == "a")

    wait_until(a_is_back, timeout=item["lease_expires"] - time.time() + 1.0, interval=0.01)
    assert time.time() >= item["lease_expires"] - 0.05, "the item came back before its lease ended"
    info = api.info(queue)
    assert (info["size"], info["in_flight"]) == (2, 0)
    again = take_leased(api, queue, 5)
    assert (again["id"], again["value"], again["attempts"]) == (item["id"], "a", 2)
    assert api.take_item(queue)["value"] == "b"


@pytest.mark.parametrize("op", ["ack", "release", "touch"])
def test_lease_call_after_expiry(api: Api, queue: str, op: str) -> None:
    """ack/release/touch after the lease ran out → 404 no such lease; the item stays queued once."""
    # A lease is named by its item's id: once the item is leased again, the id names the new
    # lease, so the call is made while the expired item waits in the queue.
    put_item(api, queue, "late")
    item = take_leased(api, queue, 0.2)
    wait_until(lambda: api.info(queue)["size"] == 1, timeout=1.5, what="lease expiry")
    extra = {"lease": 1} if op == "touch" else {}
    lease_call(api, op, queue, item["id"], **extra).error(404, "no such lease")
    info = api.info(queue)
    assert (info["size"], info["in_flight"], info["delayed"]) == (1, 0, 0)
    again = take_leased(api, queue, 5)
    assert (again["value"], again["id"], again["attempts"]) == ("late", item["id"], 2)


def test_ack_after_expiry_does_not_remove_the_returned_item(api: Api, queue: str) -> None:
    """An ack arriving after expiry → 404 no such lease, and the returned item stays queued."""
    put_item(api, queue, "kept")
    item = take_leased(api, queue, 0.2)
    wait_until(lambda: api.info(queue)["size"] == 1, timeout=1.5, what="lease expiry")
    lease_call(api, "ack", queue, item["id"]).error(404, "no such lease")
    info = api.info(queue)
    assert (info["size"], info["in_flight"], info["acked"]) == (1, 0, 0)
    assert api.take_item(queue)["value"] == "kept"


def test_release_returns_item_to_the_front(api: Api, queue: str) -> None:
    """release → null; the next take gets the released item, with attempts 2."""
    put_item(api, queue, "a")
    put_item(api, queue, "b")
    item = take_leased(api, queue, 30)
    assert lease_call(api, "release", queue, item["id"]).ok() is None
    info = api.info(queue)
    assert (info["size"], info["in_flight"]) == (2, 0)
    again = take_leased(api, queue, 30)
    assert (again["id"], again["value"], again["attempts"]) == (item["id"], "a", 2)
    assert api.take_item(queue)["value"] == "b"


def test_release_twice_and_ack_after_release(api: Api, queue: str) -> None:
    """After a release the old lease is gone: a second release or an ack → 404 no such lease."""
    put_item(api, queue, "once")
    item = take_leased(api, queue, 30)
    assert lease_call(api, "release", queue, item["id"]).ok() is None
    lease_call(api, "release", queue, item["id"]).error(404, "no such lease")
    lease_call(api, "ack", queue, item["id"]).error(404, "no such lease")
    assert api.take_item(queue)["value"] == "once"


def test_release_with_delay(api: Api, queue: str) -> None:
    """release with delay: the item is invisible for that long, then takeable with attempts 2."""
    put_item(api, queue, "a")
    put_item(api, queue, "b")
    item = take_leased(api, queue, 30)
    released = time.monotonic()
    assert lease_call(api, "release", queue, item["id"], delay=0.6).ok() is None
    info = api.info(queue)
    assert (info["size"], info["delayed"], info["in_flight"]) == (1, 1, 0)
    assert api.take_item(queue)["value"] == "b"
    api.take(queue).error(404, "no item to take")
    again = take_eventually(api, queue, timeout=2.0, lease=30)
    assert time.monotonic() - released >= 0.5
    assert (again["id"], again["value"], again["attempts"]) == (item["id"], "a", 2)


def test_release_with_bad_delay(api: Api, queue: str) -> None:
    """release with an invalid delay → 400 invalid parameter 'delay'; the lease is kept."""
    put_item(api, queue, "v")
    item = take_leased(api, queue, 30)
    for bad in ["-1", "abc", "nan", "604801"]:
        lease_call(api, "release", queue, item["id"], delay=bad).error(
            400, "invalid parameter 'delay'"
        )
    assert api.info(queue)["in_flight"] == 1
    assert lease_call(api, "ack", queue, item["id"]).ok() is None


def test_touch_extends_the_lease(api: Api, queue: str) -> None:
    """touch → {"lease_expires": now+lease}; the item outlives its first lease and can be acked."""
    put_item(api, queue, "slow")
    item = take_leased(api, queue, 1)
    before = time.time()
    payload = lease_call(api, "touch", queue, item["id"], lease=3).ok()
    after = time.time()
    assert set(payload) == {"lease_expires"}, payload
    assert before + 3 - 0.25 <= payload["lease_expires"] <= after + 3 + 0.25, payload
    time.sleep(max(0.0, item["lease_expires"] - time.time()) + 0.4)
    api.take(queue).error(404, "no item to take")
    assert api.info(queue)["in_flight"] == 1
    assert lease_call(api, "ack", queue, item["id"]).ok() is None


def test_touch_can_shorten_the_lease(api: Api, queue: str) -> None:
    """touch sets the lease to `lease` s from now, also when that is sooner than before."""
    put_item(api, queue, "short")
    item = take_leased(api, queue, 30)
    payload = lease_call(api, "touch", queue, item["id"], lease=0.2).ok()
    assert payload["lease_expires"] < item["lease_expires"] - 20
    back = take_eventually(api, queue, timeout=1.5, lease=30)
    assert (back["id"], back["attempts"]) == (item["id"], 2)


def test_touch_requires_a_valid_lease(api: Api, queue: str) -> None:
    """touch without lease → 400 missing parameter 'lease'; a bad one → invalid parameter."""
    put_item(api, queue, "v")
    item = take_leased(api, queue, 30)
    lease_call(api, "touch", queue, item["id"]).error(400, "missing parameter 'lease'")
    for bad in BAD_LEASES:
        lease_call(api, "touch", queue, item["id"], lease=bad).error(
            400, "invalid parameter 'lease'"
        )
    assert lease_call(api, "ack", queue, item["id"]).ok() is None


@pytest.mark.parametrize("bad", BAD_LEASES)
def test_take_with_invalid_lease(api: Api, queue: str, bad: str) -> None:
    """take with a lease that is not a number in (0, 43200] → 400, and nothing is taken."""
    put_item(api, queue, "stays")
    take_with(api, queue, lease=bad).error(400, "invalid parameter 'lease'")
    info = api.info(queue)
    assert (info["size"], info["in_flight"]) == (1, 0)


def test_lease_bounds_and_json_numbers(api: Api, queue: str) -> None:
    """lease=43200 is accepted; in a JSON body lease may be a number or a numeric string."""
    for _ in range(3):
        put_item(api, queue, "v")
    item = take_leased(api, queue, 43200)
    assert lease_call(api, "ack", queue, item["id"]).ok() is None
    for lease in (0.5, "0.5"):
        before = time.time()
        item = api.call("POST", "/take", json_body={"name": queue, "lease": lease}).ok()
        assert abs(item["lease_expires"] - (before + 0.5)) < 0.3, item
        assert item["attempts"] == 1
    api.call("POST", "/take", json_body={"name": queue, "lease": -3}).error(
        400, "invalid parameter 'lease'"
    )
    api.call("POST", "/take", json_body={"name": queue, "lease": "abc"}).error(
        400, "invalid parameter 'lease'"
    )


def test_leased_take_with_key(api: Api, queue: str) -> None:
    """A leased take honours `key` (case-insensitive) and leaves the other items queued."""
    put_item(api, queue, "plain")
    put_item(api, queue, "keyed", key="Blue")
    item = take_leased(api, queue, 30, key="bLUE")
    assert (item["value"], item["key"]) == ("keyed", "Blue")
    take_with(api, queue, "blue", lease=30).error(404, "no item to take")
    assert api.take_item(queue)["value"] == "plain"


def test_queue_default_lease(api: Api) -> None:
    """A queue created with `lease` leases every take without one; an explicit lease wins."""
    queue = create_queue(api, lease=0.8)
    assert api.info(queue)["lease"] == 0.8
    put_item(api, queue, "a")
    put_item(api, queue, "b")
    before = time.time()
    item = api.take_item(queue)
    assert item["attempts"] == 1 and item["value"] == "a"
    assert abs(item["lease_expires"] - (before + 0.8)) < 0.3, item
    explicit = take_leased(api, queue, 20)
    assert explicit["value"] == "b"
    assert api.info(queue)["in_flight"] == 2
    back = take_eventually(api, queue, timeout=1.5)
    assert (back["id"], back["attempts"]) == (item["id"], 2)
    assert lease_call(api, "ack", queue, explicit["id"]).ok() is None


def test_attempts_count_every_delivery(api: Api, queue: str) -> None:
    """attempts counts releases and expiries alike: 1, 2 (after release), 3 (after expiry)."""
    put_item(api, queue, "retry")
    first = take_leased(api, queue, 30)
    lease_call(api, "release", queue, first["id"]).ok()
    second = take_leased(api, queue, 0.2)
    third = take_eventually(api, queue, timeout=1.5, lease=30)
    assert [first["attempts"], second["attempts"], third["attempts"]] == [1, 2, 3]
    assert first["id"] == second["id"] == third["id"]


def test_many_leases_expire_together(api: Api, queue: str) -> None:
    """Twenty leases expiring together all come back, each once, within a second of expiry."""
    ids = [put_item(api, queue, f"v{i}") for i in range(20)]
    items = take_with(api, queue, count=20, lease=0.5).ok()
    assert [item["id"] for item in items] == ids
    last = max(item["lease_expires"] for item in items)
    wait_until(
        lambda: api.info(queue)["size"] == 20, timeout=last - time.time() + 1.0, what="expiries"
    )
    again = take_with(api, queue, count=100, lease=30).ok()
    assert sorted(item["id"] for item in again) == sorted(ids)
    assert {item["attempts"] for item in again} == {2}


def test_delete_queue_with_leases_then_release(api: Api) -> None:
    """release/ack of an item whose queue was deleted → 404 queue does not exist."""
    queue = api.new_queue()
    put_item(api, queue, "v1")
    put_item(api, queue, "v2")
    first = take_leased(api, queue, 0.3)
    second = take_leased(api, queue, 0.3)
    assert api.call("DELETE", "/queue", data={"name": queue}).ok() is None
    lease_call(api, "release", queue, first["id"]).error(404, "queue does not exist")
    lease_call(api, "ack", queue, second["id"]).error(404, "queue does not exist")
    lease_call(api, "touch", queue, second["id"], lease=1).error(404, "queue does not exist")
    time.sleep(0.6)  # the leases' expiry must not resurrect anything
    api.call("POST", "/queue", data={"name": queue}).error(404, "queue does not exist")
    assert queue not in api.queues()
    # a new queue of the same name starts empty
    assert api.new_queue(queue) == queue
    api.take(queue).error(404, "no item to take")
    assert api.info(queue)["in_flight"] == 0


def test_expiring_item_is_always_ready_or_in_flight(api: Api, queue: str) -> None:
    """While leases expire, every item is counted in size or in_flight at every moment."""
    for i in range(20):
        put_item(api, queue, f"v{i}")
    take_with(api, queue, count=20, lease=0.3).ok()
    deadline = time.monotonic() + 2.0
    seen = []
    while time.monotonic() < deadline:
        info = api.info(queue)
        seen.append((info["size"], info["in_flight"]))
        if info["size"] == 20:
            break
    assert seen[-1] == (20, 0), seen[-5:]
    assert all(size + in_flight == 20 for size, in_flight in seen), [
        pair for pair in seen if sum(pair) != 20
    ]
