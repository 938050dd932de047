"""Dead letters (API.md Part 2): `max_attempts` and `dead_letter` on queue creation."""

from __future__ import annotations

import time
from typing import Any

import pytest

from .helpers import (
    Api,
    create_queue,
    lease_call,
    put_item,
    take_eventually,
    take_leased,
    wait_until,
)

UNKNOWN_QUEUE = "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def fail_delivery(api: Api, queue: str, how: str, outcome: str) -> dict[str, Any]:
    """Take the next item with a lease and let that delivery fail (release it, or let it
    expire); wait until the item is `back` in the queue, `dead` (dead-lettered) or gone."""
    before = api.info(queue)
    if how == "release":
        item = take_leased(api, queue, 30)
        assert lease_call(api, "release", queue, item["id"]).ok() is None
    else:
        item = take_leased(api, queue, 0.2)

    def settled() -> bool:
        info = api.info(queue)
        if outcome == "back":
            return bool(info["in_flight"] == 0 and info["size"] == before["size"])
        if outcome == "dead":
            return bool(info["in_flight"] == 0 and info["dead_lettered"] > before["dead_lettered"])
        return bool(info["in_flight"] == 0)

    wait_until(settled, timeout=item["lease_expires"] - time.time() + 1.0, what=outcome)
    return item


@pytest.mark.parametrize("how", ["release", "expire"])
def test_item_moves_to_dead_letter_queue_after_max_attempts(api: Api, how: str) -> None:
    """After its n-th failed delivery an item moves to the back of the dead-letter queue."""
    dead = api.new_queue()
    put_item(api, dead, "already-dead")
    source = create_queue(api, max_attempts=2, dead_letter=dead)
    item_id = put_item(api, source, "poison", key="k")
    first = fail_delivery(api, source, how, "back")
    assert (first["id"], first["attempts"]) == (item_id, 1)
    second = fail_delivery(api, source, how, "dead")
    assert (second["id"], second["attempts"]) == (item_id, 2)

    api.take(source).error(404, "no item to take")
    source_info = api.info(source)
    assert (source_info["size"], source_info["in_flight"]) == (0, 0)
    assert source_info["dead_lettered"] == 1
    dead_info = api.info(dead)
    assert (dead_info["size"], dead_info["put"]) == (2, 2)
    assert api.take_item(dead)["value"] == "already-dead"
    moved = api.take_item(dead)
    assert (moved["key"], moved["value"]) == ("k", "poison")


def test_max_attempts_one_dead_letters_on_first_release(api: Api) -> None:
    """With max_attempts=1 the first release already moves the item to the dead-letter queue."""
    dead = api.new_queue()
    source = create_queue(api, max_attempts=1, dead_letter=dead)
    put_item(api, source, "once")
    put_item(api, source, "next")
    fail_delivery(api, source, "release", "dead")
    assert api.take_item(dead)["value"] == "once"
    assert api.take_item(source)["value"] == "next"
    assert api.info(source)["dead_lettered"] == 1


def test_ack_on_last_attempt_does_not_dead_letter(api: Api) -> None:
    """An item acked on its n-th delivery is done: nothing reaches the dead-letter queue."""
    dead = api.new_queue()
    source = create_queue(api, max_attempts=2, dead_letter=dead)
    put_item(api, source, "fine")
    fail_delivery(api, source, "release", "back")
    item = take_leased(api, source, 30)
    assert item["attempts"] == 2
    assert lease_call(api, "ack", source, item["id"]).ok() is None
    api.take(dead).error(404, "no item to take")
    assert api.info(source)["dead_lettered"] == 0
    assert api.info(dead)["put"] == 0


def test_deleted_dead_letter_queue_drops_the_item(api: Api) -> None:
    """If the dead-letter queue was deleted, the item is dropped (counted), never returned."""
    dead = api.new_queue()
    source = create_queue(api, max_attempts=1, dead_letter=dead)
    put_item(api, source, "doomed-release")
    put_item(api, source, "doomed-expiry")
    assert api.call("DELETE", "/queue", data={"name": dead}).ok() is None
    fail_delivery(api, source, "release", "dead")
    fail_delivery(api, source, "expire", "dead")
    time.sleep(0.3)
    api.take(source).error(404, "no item to take")
    info = api.info(source)
    assert (info["size"], info["in_flight"], info["delayed"]) == (0, 0, 0)
    assert info["dead_lettered"] == 2
    assert dead not in api.queues()


def test_max_attempts_without_dead_letter_drops_the_item(api: Api) -> None:
    """With max_attempts but no dead_letter, the item is dropped after n deliveries."""
    source = create_queue(api, max_attempts=2)
    put_item(api, source, "dropped")
    fail_delivery(api, source, "release", "back")
    fail_delivery(api, source, "expire", "dropped")
    time.sleep(0.3)
    api.take(source).error(404, "no item to take")
    info = api.info(source)
    assert (info["size"], info["in_flight"]) == (0, 0)


def test_dead_lettered_item_is_an_ordinary_item_of_its_new_queue(api: Api) -> None:
    """The moved item can be leased, released and acked in the dead-letter queue."""
    dead = api.new_queue()
    source = create_queue(api, max_attempts=1, dead_letter=dead)
    put_item(api, source, "inspect")
    fail_delivery(api, source, "release", "dead")
    moved = take_leased(api, dead, 30)
    assert moved["value"] == "inspect"
    assert lease_call(api, "release", dead, moved["id"]).ok() is None
    again = take_eventually(api, dead, lease=30)
    assert again["id"] == moved["id"]
    assert lease_call(api, "ack", dead, again["id"]).ok() is None
    api.take(dead).error(404, "no item to take")


def test_dead_letter_chain_settings_in_info(api: Api) -> None:
    """Queue info reports max_attempts and dead_letter as created."""
    dead = api.new_queue()
    source = create_queue(api, max_attempts=3, dead_letter=dead)
    info = api.info(source)
    assert (info["max_attempts"], info["dead_letter"]) == (3, dead)
    plain = api.info(dead)
    assert (plain["max_attempts"], plain["dead_letter"]) == (None, None)


def test_dead_letter_must_exist(api: Api) -> None:
    """dead_letter naming a missing queue → 404 dead letter queue does not exist; none made."""
    before = api.queues()
    reply = api.call("POST", "/queues", data={"max_attempts": "2", "dead_letter": UNKNOWN_QUEUE})
    reply.error(404, "dead letter queue does not exist")
    assert api.queues() == before


def test_dead_letter_cannot_be_the_queue_itself(api: Api) -> None:
    """A queue naming itself as its dead-letter queue → 400 invalid parameter 'dead_letter'."""
    name = "7b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"
    reply = api.call(
        "POST", "/queues", data={"name": name, "max_attempts": "2", "dead_letter": name}
    )
    reply.error(400, "invalid parameter 'dead_letter'")
    assert name not in api.queues()


@pytest.mark.parametrize("bad", ["0", "-1", "1.5", "abc", "nan", ""])
def test_invalid_max_attempts(api: Api, bad: str) -> None:
    """max_attempts that is not an integer ≥ 1 → 400 invalid parameter 'max_attempts'."""
    before = api.queues()
    api.call("POST", "/queues", data={"max_attempts": bad}).error(
        400, "invalid parameter 'max_attempts'"
    )
    assert api.queues() == before
