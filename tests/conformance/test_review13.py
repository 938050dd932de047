"""Review of issue 13 (receipts): regressions found in review, each on every backend."""

from __future__ import annotations

import asyncio

import pytest

from disqueue.core.contract import parse_receipt
from disqueue.errors import StorageFailure
from disqueue.models import NewItem
from disqueue.server import actions
from disqueue.server.params import Params

from .conftest import Backend, FakeClock, faulty


async def test_an_ack_while_a_touch_is_stored_acks(backend: Backend) -> None:
    """A heartbeat touch and the worker's ack of the same live lease, at once: the ack
    ends the delivery (PostgreSQL waits for the touch's row lock, then deletes). The
    embedded rules mark the lease `ending` for the whole of the touch's write, so on
    SQLite the ack answers `no such lease` and the item is delivered again later."""
    service = backend.service
    queue = await service.create_queue()
    await service.put(queue, NewItem("v"))
    item = await service.take(queue, lease=30)
    ref = parse_receipt(item.receipt)
    _, acked = await asyncio.gather(
        service.touch_many(queue, [ref], 60), service.ack_many(queue, [ref])
    )
    assert acked == [True]
    info = await service.info(queue)
    assert (info["size"], info["in_flight"]) == (0, 0)


async def test_two_touches_of_one_lease_at_once_both_hold(backend: Backend) -> None:
    """Two touches of the same live lease at once (a retried heartbeat): both find it."""
    service = backend.service
    queue = await service.create_queue()
    await service.put(queue, NewItem("v"))
    item = await service.take(queue, lease=30)
    ref = parse_receipt(item.receipt)
    first, second = await asyncio.gather(
        service.touch_many(queue, [ref], 60), service.touch_many(queue, [ref], 60)
    )
    assert first[0] is not None and second[0] is not None


async def test_a_batch_receipt_with_a_nul_is_missing(backend: Backend) -> None:
    """A batch of receipts where one holds a NUL character (hostile input): that one is
    `missing`, the others are done, on every backend. PostgreSQL cannot take NUL in
    text: the whole statement fails (500 `storage failure`), the live ones are not
    acked, and memory/SQLite answer otherwise."""
    service = backend.service
    queue = await service.create_queue()
    await service.put(queue, NewItem("v"))
    item = await service.take(queue, lease=30)
    hostile = "abc\x00def.token"
    answer = await actions.ack(service, queue, Params({"receipts": [item.receipt, hostile]}))
    assert answer == {"done": 1, "missing": [hostile]}


async def test_a_lease_whose_touch_failed_still_runs_out() -> None:
    """A lease's end passes while a touch of it is being written, and the write fails:
    the lease still ends (its item is ready again). The deadline found the lease
    `ending` and skipped it, and nothing armed it again: in flight until a restart."""
    clock = FakeClock()
    persistence, storage, service = await faulty(clock)
    persistence.stuck.add("touch")
    queue = await service.create_queue()
    await service.put(queue, NewItem("v"))
    item = await service.take(queue, lease=5)
    touch = asyncio.create_task(service.touch(queue, parse_receipt(item.receipt), 60))
    await asyncio.sleep(0)  # the touch is being written
    clock.now += 6
    await storage.run_deadlines()
    persistence.go.set()
    with pytest.raises(StorageFailure):
        await touch
    await storage.run_deadlines()
    info = await service.info(queue)
    assert (info["size"], info["in_flight"]) == (1, 0)
    await storage.close()


async def test_a_failed_drop_of_a_stale_head_loses_no_item() -> None:
    """A take finds a head past its ttl (not yet dropped) and the next item behind it;
    dropping the stale one fails. The take fails, and the item behind it is still
    there for the next take. `take_many` had removed it from the index and restored
    only the stale one: it was neither delivered nor queued, until a restart."""
    clock = FakeClock()
    persistence, storage, service = await faulty(clock)
    queue = await service.create_queue()
    await service.put(queue, NewItem("stale", ttl=10))
    await service.put(queue, NewItem("fresh"))
    clock.now += 11  # the ttl's deadline not yet handled
    persistence.failing.add("delete")
    with pytest.raises(StorageFailure):
        await service.take(queue, lease=30)
    persistence.failing.clear()
    assert (await service.take(queue, lease=30)).value == "fresh"
    await storage.close()


async def test_a_lease_named_twice_in_a_batch_is_done_once(backend: Backend) -> None:
    """The same receipt twice in one batch touch, release or ack: the first names the
    lease, the second nothing, on every backend (the embedded touch no longer goes
    through `_claim`, so this holds it to the same answer)."""
    service = backend.service
    queue = await service.create_queue()
    await service.put(queue, NewItem("v"))
    item = await service.take(queue, lease=30)
    ref = parse_receipt(item.receipt)
    touched = await service.touch_many(queue, [ref, ref], 60)
    assert touched[0] is not None and touched[1] is None
    # Which mention counts differs (PostgreSQL releases from the last), but the two are
    # the same text, so a batch's answer ({"done": 1, "missing": [it]}) is the same.
    assert sorted(await service.release_many(queue, [ref, ref])) == [False, True]
    again = await service.take(queue, lease=30)
    ref = parse_receipt(again.receipt)
    assert await service.ack_many(queue, [ref, ref]) == [True, False]


async def test_a_touched_lease_keeps_its_receipt_and_end_across_a_restart(
    backend: Backend,
) -> None:
    """Touched, then restarted: the lease ends at the touched end, not the first one,
    and its receipt still names it."""
    service = backend.service
    queue = await service.create_queue()
    await service.put(queue, NewItem("v"))
    item = await service.take(queue, lease=30)
    ref = parse_receipt(item.receipt)
    await service.touch(queue, ref, 120)
    if backend.kind != "memory":
        await backend.restart()
    backend.clock.now += 60
    assert backend.storage is not None
    await backend.storage.run_deadlines()
    assert await backend.service.ack_many(queue, [ref]) == [True]


async def test_a_lease_end_that_failed_once_is_retried() -> None:
    """A lease runs out and giving its item back fails (a disk error): a second later
    it is tried again and the item is ready. The retry is the deadline with a new
    `when` (rules.py _handle_due), and a LeaseEnd is only handled if `when` equals the
    lease's end (rules.py _handle): the retry never matches, and the item stays in
    flight, past its lease, until a restart. (Before issue 13 the event carried the
    lease's end apart from the time it was scheduled at.)"""
    clock = FakeClock()
    persistence, storage, service = await faulty(clock)
    queue = await service.create_queue()
    await service.put(queue, NewItem("v"))
    await service.take(queue, lease=5)
    persistence.failing.add("requeue")
    clock.now += 6
    await storage.run_deadlines()
    persistence.failing.clear()
    clock.now += 2  # the retry, a second later
    await storage.run_deadlines()
    info = await service.info(queue)
    assert (info["size"], info["in_flight"]) == (1, 0)
    await storage.close()


async def test_a_lease_whose_ack_failed_still_runs_out() -> None:
    """As with a touch: a lease's end passes while an ack of it is being written, and
    the write fails. The deadline found the lease `ending` and skipped it; the ack's
    failure only clears `ending`: in flight until a restart. (The same for a release
    whose write fails. Not new in issue 13: the old rules did the same.)"""
    clock = FakeClock()
    persistence, storage, service = await faulty(clock)
    persistence.stuck.add("delete")
    queue = await service.create_queue()
    await service.put(queue, NewItem("v"))
    item = await service.take(queue, lease=5)
    ack = asyncio.create_task(service.ack(queue, parse_receipt(item.receipt)))
    await asyncio.sleep(0)  # the ack is being written
    clock.now += 6
    await storage.run_deadlines()
    persistence.go.set()
    with pytest.raises(StorageFailure):
        await ack
    await storage.run_deadlines()
    info = await service.info(queue)
    assert (info["size"], info["in_flight"]) == (1, 0)
    await storage.close()
