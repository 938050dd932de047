"""Long polling (API.md Part 2): `POST /take` with `wait`."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from .helpers import Api, Reply, Server, create_queue, lease_call, put_item, take_with

SETTLE = 0.4  # time for a waiting take to reach the server before the put


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4) as executor:
        yield executor


def waiting_take(
    pool: ThreadPoolExecutor, server: Server, queue: str, key: str | None = None, **options: Any
) -> Future[tuple[Reply, float]]:
    """Start a `POST /take` on its own connection; the future gives (reply, monotonic end)."""

    def run() -> tuple[Reply, float]:
        with Api(server.url) as client:
            reply = take_with(client, queue, key, **options)
            return reply, time.monotonic()

    return pool.submit(run)


def test_wait_times_out_with_404(api: Api, queue: str) -> None:
    """With no item, take wait=S answers 404 no item to take after about S seconds."""
    started = time.monotonic()
    take_with(api, queue, wait=0.6).error(404, "no item to take")
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 2.5, elapsed


def test_wait_zero_answers_at_once(api: Api, queue: str) -> None:
    """wait=0 is a plain take: 404 at once."""
    started = time.monotonic()
    take_with(api, queue, wait=0).error(404, "no item to take")
    assert time.monotonic() - started < 1.0


def test_wait_with_an_item_answers_at_once(api: Api, queue: str) -> None:
    """With an item ready, take wait=60 (the maximum) answers at once."""
    put_item(api, queue, "ready")
    started = time.monotonic()
    assert take_with(api, queue, wait=60).ok()["value"] == "ready"
    assert time.monotonic() - started < 1.0


def test_put_wakes_a_waiting_take(
    api: Api, queue: str, open_server: Server, pool: ThreadPoolExecutor
) -> None:
    """A put during the wait answers the waiting take at once with that item (not stored)."""
    future = waiting_take(pool, open_server, queue, wait=10)
    time.sleep(SETTLE)
    assert not future.done(), "the take did not wait"
    put_at = time.monotonic()
    item_id = put_item(api, queue, "wake", key="k")
    reply, ended = future.result(timeout=10)
    assert ended - put_at < 2.0, ended - put_at
    assert reply.ok() == {"key": "k", "value": "wake", "id": item_id}
    api.take(queue).error(404, "no item to take")


def test_keyed_wait_ignores_other_keys(
    api: Api, queue: str, open_server: Server, pool: ThreadPoolExecutor
) -> None:
    """A keyed waiting take is not woken by another key, and is woken (any case) by its own."""
    future = waiting_take(pool, open_server, queue, key="Red", wait=10)
    time.sleep(SETTLE)
    put_item(api, queue, "blue item", key="blue")
    put_item(api, queue, "no key")
    time.sleep(0.4)
    assert not future.done(), f"woken by another key: {future.result()[0].body}"
    put_at = time.monotonic()
    put_item(api, queue, "red item", key="rED")
    reply, ended = future.result(timeout=10)
    assert ended - put_at < 2.0
    assert reply.ok()["value"] == "red item"
    assert api.drain(queue) == ["blue item", "no key"]


def test_keyed_wait_times_out(api: Api, queue: str) -> None:
    """A keyed take with wait still answers 404 when only other keys are queued."""
    put_item(api, queue, "other", key="other")
    started = time.monotonic()
    take_with(api, queue, "mine", wait=0.5).error(404, "no item to take")
    assert time.monotonic() - started >= 0.4
    assert api.info(queue)["size"] == 1


def test_wait_with_lease(
    api: Api, queue: str, open_server: Server, pool: ThreadPoolExecutor
) -> None:
    """A waiting take with lease gets the put item leased: attempts 1, lease_expires, in flight."""
    future = waiting_take(pool, open_server, queue, wait=10, lease=30)
    time.sleep(SETTLE)
    put_at = time.time()
    item_id = put_item(api, queue, "leased")
    reply, _ = future.result(timeout=10)
    item = reply.ok()
    assert (item["id"], item["value"], item["attempts"]) == (item_id, "leased", 1)
    assert abs(item["lease_expires"] - (put_at + 30)) < 2.0, item
    info = api.info(queue)
    assert (info["size"], info["in_flight"]) == (0, 1)
    assert lease_call(api, "ack", queue, item_id).ok() is None


def test_longest_waiting_take_gets_the_first_put(
    api: Api, queue: str, open_server: Server, pool: ThreadPoolExecutor
) -> None:
    """Of several waiting takes, the one that has waited longest gets the first put."""
    first = waiting_take(pool, open_server, queue, wait=10)
    time.sleep(SETTLE)
    second = waiting_take(pool, open_server, queue, wait=10)
    time.sleep(SETTLE)
    third = waiting_take(pool, open_server, queue, wait=10)
    time.sleep(SETTLE)
    put_item(api, queue, "one")
    assert first.result(timeout=10)[0].ok()["value"] == "one"
    assert not second.done() and not third.done()
    put_item(api, queue, "two")
    assert second.result(timeout=10)[0].ok()["value"] == "two"
    put_item(api, queue, "three")
    assert third.result(timeout=10)[0].ok()["value"] == "three"
    assert api.info(queue)["size"] == 0


def test_batch_put_wakes_waiting_takes(
    api: Api, queue: str, open_server: Server, pool: ThreadPoolExecutor
) -> None:
    """A batch put answers the waiting takes in order; the rest is stored."""
    first = waiting_take(pool, open_server, queue, wait=10)
    time.sleep(SETTLE)
    second = waiting_take(pool, open_server, queue, wait=10)
    time.sleep(SETTLE)
    items = [{"value": f"b{i}"} for i in range(4)]
    api.call("POST", "/put", json_body={"name": queue, "items": items}).ok()
    assert first.result(timeout=10)[0].ok()["value"] == "b0"
    assert second.result(timeout=10)[0].ok()["value"] == "b1"
    assert api.drain(queue) == ["b2", "b3"]


def test_wait_with_count_returns_on_the_first_item(
    api: Api, queue: str, open_server: Server, pool: ThreadPoolExecutor
) -> None:
    """take count=n wait=S answers as soon as there is at least one item, with an array."""
    future = waiting_take(pool, open_server, queue, wait=10, count=5)
    time.sleep(SETTLE)
    put_at = time.monotonic()
    item_id = put_item(api, queue, "solo")
    reply, ended = future.result(timeout=10)
    assert ended - put_at < 2.0
    assert reply.ok() == [{"key": None, "value": "solo", "id": item_id}]


def test_wait_with_count_times_out_with_empty_array(api: Api, queue: str) -> None:
    """take count=n wait=S with nothing arriving answers 200 with [] after about S."""
    started = time.monotonic()
    assert take_with(api, queue, wait=0.5, count=3).ok() == []
    assert 0.4 <= time.monotonic() - started < 2.5


def test_delayed_item_becoming_visible_answers_a_wait(api: Api, queue: str) -> None:
    """A delayed item that becomes visible during a wait answers it."""
    put_item(api, queue, "soon", delay=0.5)
    started = time.monotonic()
    assert take_with(api, queue, wait=10).ok()["value"] == "soon"
    assert 0.4 <= time.monotonic() - started < 2.5


def test_expired_lease_answers_a_wait(api: Api, queue: str) -> None:
    """An item coming back from an expired lease answers a waiting take."""
    put_item(api, queue, "again")
    take_with(api, queue, lease=0.4).ok()
    started = time.monotonic()
    item = take_with(api, queue, wait=10, lease=30).ok()
    assert (item["value"], item["attempts"]) == ("again", 2)
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("bad", ["-1", "60.5", "61", "abc", "nan", "inf", ""])
def test_invalid_wait(api: Api, queue: str, bad: str) -> None:
    """wait outside [0, 60] or not a number → 400 invalid parameter 'wait'."""
    put_item(api, queue, "stays")
    take_with(api, queue, wait=bad).error(400, "invalid parameter 'wait'")
    assert api.info(queue)["size"] == 1


def test_wait_on_unknown_queue(api: Api) -> None:
    """take wait=S on a queue that does not exist → 404 queue does not exist, at once."""
    started = time.monotonic()
    take_with(api, "8c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", wait=5).error(
        404, "queue does not exist"
    )
    assert time.monotonic() - started < 1.0


def hang_up_while_waiting(server: Server, body: str) -> None:
    """Send a long-polling `POST /take` on a raw socket and close it while it waits."""
    host, port = server.url.split("://", 1)[1].rsplit(":", 1)
    request = (
        f"POST /take HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    )
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request.encode())
        time.sleep(SETTLE)
    time.sleep(0.3)  # time for the server to see the hang-up


def test_put_after_a_waiting_client_hung_up_is_not_lost(
    api: Api, queue: str, open_server: Server
) -> None:
    """A plain long-polling take whose client hung up does not swallow the next put."""
    hang_up_while_waiting(open_server, f"name={queue}&wait=10")
    item_id = put_item(api, queue, "not lost")
    item = take_with(api, queue, wait=1).ok()
    assert (item["id"], item["value"]) == (item_id, "not lost")


def test_leased_put_after_a_waiting_client_hung_up_comes_back(
    api: Api, queue: str, open_server: Server
) -> None:
    """A leased long-polling take whose client hung up loses nothing (at worst: lease expiry)."""
    hang_up_while_waiting(open_server, f"name={queue}&wait=10&lease=1")
    item_id = put_item(api, queue, "not lost")
    item = take_with(api, queue, wait=2.5, lease=30).ok()
    assert (item["id"], item["value"]) == (item_id, "not lost")


def test_keyed_waiter_is_skipped_for_other_keys(
    api: Api, queue: str, open_server: Server, pool: ThreadPoolExecutor
) -> None:
    """A put goes to the longest-waiting take it matches, skipping keyed ones it does not."""
    keyed = waiting_take(pool, open_server, queue, key="k", wait=10)
    time.sleep(SETTLE)
    plain = waiting_take(pool, open_server, queue, wait=10)
    time.sleep(SETTLE)
    put_item(api, queue, "for anyone", key="other")
    assert plain.result(timeout=10)[0].ok()["value"] == "for anyone"
    assert not keyed.done()
    put_item(api, queue, "for k", key="K")
    assert keyed.result(timeout=10)[0].ok()["value"] == "for k"


def test_dead_letter_arrival_answers_a_wait(
    api: Api, open_server: Server, pool: ThreadPoolExecutor
) -> None:
    """An item moved to a dead-letter queue answers a take waiting on that queue."""
    dead = api.new_queue()
    source = create_queue(api, max_attempts=1, dead_letter=dead)
    put_item(api, source, "poison")
    future = waiting_take(pool, open_server, dead, wait=10)
    time.sleep(SETTLE)
    item = take_with(api, source, lease=30).ok()
    moved_at = time.monotonic()
    lease_call(api, "release", source, item["id"]).ok()
    reply, ended = future.result(timeout=10)
    assert reply.ok()["value"] == "poison"
    assert ended - moved_at < 2.0
