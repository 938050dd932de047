"""Regression tests for the drifts the contract fixed: places where the backends had
given three answers to one question. Each runs on every backend on a fake clock, and
restarts the durable ones in the middle, where the drift showed."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from disqueue.core.contract import parse_receipt
from disqueue.errors import NoItem, NoSuchLease, StorageFailure
from disqueue.models import NewItem, QueueSettings
from disqueue.storage import open_storage

from .conftest import BACKENDS, Backend, FakeClock, faulty, storage_config


async def later(backend: Backend, seconds: float) -> None:
    """Move the clock and let the backend handle what came due."""
    backend.clock.now += seconds
    assert backend.storage is not None
    await backend.storage.run_deadlines()


async def restart(backend: Backend) -> None:
    if backend.kind != "memory":
        await backend.restart()


async def test_a_dead_letter_keeps_no_ttl(backend: Backend) -> None:
    """An item put with a ttl and dead-lettered waits in the dead-letter queue past its
    old ttl, before and after a restart (SQLite armed the old ttl again at start)."""
    service = backend.service
    letters = await service.create_queue()
    queue = await service.create_queue(settings=QueueSettings(max_attempts=1, dead_letter=letters))
    await service.put(queue, NewItem("poison", ttl=10))
    item = await service.take(queue, lease=5)
    await service.release(queue, item.id)
    await restart(backend)
    await later(backend, 60)
    info = await backend.service.info(letters)
    assert (info["size"], info["expired"]) == (1, 0)
    assert (await backend.service.take(letters)).value == "poison"


async def test_an_item_released_with_a_delay_comes_back_to_the_front(backend: Backend) -> None:
    """Released with a delay, an item is ready again at the front of its queue when the
    delay ends, in the same place whether or not the server restarted meanwhile."""
    service = backend.service
    queue = await service.create_queue()
    for value in ("first", "second", "third"):
        await service.put(queue, NewItem(value))
    first = await service.take(queue, lease=30)
    await service.release(queue, first.id, 5)
    second = await service.take(queue, lease=30)
    await service.release(queue, second.id)  # at the front at once, before `first`'s delay ends
    await restart(backend)
    await later(backend, 6)
    values = [(await backend.service.take(queue)).value for _ in range(3)]
    assert values == ["first", "second", "third"]


async def test_an_item_put_with_a_delay_joins_the_back_when_it_becomes_visible(
    backend: Backend,
) -> None:
    """A put's delay ends with the item at the back, after items put meanwhile, whether
    or not the server restarted (SQLite and PostgreSQL ordered it by its put position)."""
    service = backend.service
    queue = await service.create_queue()
    await service.put(queue, NewItem("late", delay=5))
    await service.put(queue, NewItem("early"))
    await later(backend, 6)
    await restart(backend)
    await backend.service.put(queue, NewItem("after"))
    values = [(await backend.service.take(queue)).value for _ in range(3)]
    assert values == ["early", "late", "after"]


async def test_an_item_past_its_ttl_is_not_delivered_before_it_is_dropped(
    backend: Backend,
) -> None:
    """Once its ttl ended an item is not taken or peeked, even before the deadline was
    handled (memory and SQLite handed it out until their timer ran)."""
    service = backend.service
    queue = await service.create_queue()
    await service.put(queue, NewItem("stale", ttl=5))
    await service.put(queue, NewItem("fresh"))
    backend.clock.now += 6  # the deadline is not handled yet
    assert (await service.take(queue)).value == "fresh"
    with pytest.raises(NoItem):
        await service.take(queue)
    await service.put(queue, NewItem("stale too", ttl=1))
    await service.put(queue, NewItem("fresh too"))
    backend.clock.now += 2
    assert (await service.peek(queue)).value == "fresh too"
    await later(backend, 0)
    assert (await service.info(queue))["expired"] == 2


async def test_an_item_whose_ttl_ended_in_flight_is_expired_at_the_end_of_its_lease(
    backend: Backend,
) -> None:
    """A ttl that ends while the item is in flight drops it when the lease ends, counted
    expired, even after its last attempt: it is not given back, nor dead-lettered."""
    service = backend.service
    letters = await service.create_queue()
    queue = await service.create_queue(settings=QueueSettings(max_attempts=1, dead_letter=letters))
    await service.put(queue, NewItem("v", ttl=5))
    item = await service.take(queue, lease=30)
    backend.clock.now += 10
    await service.release(queue, item.id)
    with pytest.raises(NoItem):
        await service.take(queue)
    info = await service.info(queue)
    assert (info["size"], info["in_flight"], info["expired"], info["dead_lettered"]) == (
        0, 0, 1, 0,
    )  # fmt: skip
    assert (await service.info(letters))["size"] == 0


async def test_an_old_receipt_leaves_the_current_delivery_alone(backend: Backend) -> None:
    """A lease named by its item's id could be ended by a worker whose lease had run out;
    a receipt names one delivery, before and after a restart."""
    service = backend.service
    queue = await service.create_queue()
    await service.put(queue, NewItem("v"))
    late = await service.take(queue, lease=5)
    await later(backend, 6)
    current = await service.take(queue, lease=30)
    assert current.id == late.id and current.receipt != late.receipt
    late_ref, current_ref = parse_receipt(late.receipt or ""), parse_receipt(current.receipt or "")
    assert late_ref is not None and current_ref is not None
    await restart(backend)
    service = backend.service
    for end in (service.ack, service.release):
        with pytest.raises(NoSuchLease):
            await end(queue, late_ref)
    with pytest.raises(NoSuchLease):
        await service.touch(queue, late_ref, 60)
    assert (await service.info(queue))["in_flight"] == 1
    await service.ack(queue, current_ref)
    assert (await service.info(queue))["acked"] == 1


async def test_a_failed_ttl_drop_of_a_delayed_item_keeps_it_delayed() -> None:
    """If dropping a delayed item at the end of its ttl fails, it stays delayed until the
    retry (it had become visible early, before its delay ended)."""
    clock = FakeClock()
    persistence, storage, service = await faulty(clock)
    queue = await service.create_queue()
    await service.put(queue, NewItem("v", delay=60, ttl=10))
    persistence.failing.add("delete")
    clock.now += 11
    await storage.run_deadlines()
    info = await service.info(queue)
    assert (info["size"], info["delayed"], info["expired"]) == (0, 1, 0)
    with pytest.raises(NoItem):
        await service.take(queue)
    persistence.failing.clear()
    clock.now += 2  # the retry, a second later
    await storage.run_deadlines()
    info = await service.info(queue)
    assert (info["size"], info["delayed"], info["expired"]) == (0, 0, 1)
    await storage.close()


def test_open_storage_decides_by_the_clock_it_is_given(tmp_path: Path) -> None:
    """Every backend reads the time from the clock it was opened with."""
    clock = FakeClock()
    with ExitStack() as stack:
        for kind in BACKENDS:
            config = stack.enter_context(storage_config(kind, tmp_path / kind))
            assert open_storage(config, clock).clock is clock
    assert abs(clock() - time.time()) < 60


async def test_a_failed_purge_drops_nothing() -> None:
    """A purge whose delete fails leaves every item where it was (it had emptied the
    queue in memory first: the items were hidden until a restart)."""
    clock = FakeClock()
    persistence, storage, service = await faulty(clock)
    queue = await service.create_queue()
    for value in ("a", "b"):
        await service.put(queue, NewItem(value))
    await service.put(queue, NewItem("later", delay=30))
    persistence.failing.add("delete")
    with pytest.raises(StorageFailure):
        await service.purge(queue)
    persistence.failing.clear()
    info = await service.info(queue)
    assert (info["size"], info["delayed"]) == (2, 1)
    assert [(await service.take(queue)).value for _ in range(2)] == ["a", "b"]
    assert await service.purge(queue) == 1
    await storage.close()


async def test_a_dedup_hit_is_answered_after_max_items_was_lowered(backend: Backend) -> None:
    """A put answered by its dedup_id stores nothing, so it is never `queue is full`, even
    once max_items was lowered below what the queue holds (found by the model test)."""
    service = backend.service
    queue = await service.create_queue()
    first = await service.put(queue, NewItem("once", dedup_id="d"))
    await service.put(queue, NewItem("more"))
    await service.change_settings(queue, max_items=1)
    await restart(backend)
    assert await backend.service.put(queue, NewItem("again", dedup_id="d")) == first
    assert (await backend.service.info(queue))["size"] == 2


async def test_retry_delays_and_a_pause_survive_a_restart(backend: Backend) -> None:
    """A lease that ran out before a restart keeps its retry delay; a queue paused before
    it is still paused after it."""
    service = backend.service
    queue = await service.create_queue(settings=QueueSettings(retry_delays=(20.0,)))
    await service.put(queue, NewItem("v"))
    await service.take(queue, lease=5)
    await later(backend, 6)
    await service.pause(queue)
    await restart(backend)
    info = await backend.service.info(queue)
    assert (info["delayed"], info["paused"], info["retry_delays"]) == (1, True, [20.0])
    await later(backend, 20)
    with pytest.raises(NoItem):
        await backend.service.take(queue)
    await backend.service.resume(queue)
    assert (await backend.service.take(queue)).value == "v"
