"""Review of "Ordered keys, the core" (fc1cbd4, API.md Part 3): the cases the change's
own tests leave out, on every backend, with the fake clock. Each bug found in the
review was an xfail (strict) here until it was fixed (decision 0012 says what changed);
they pin the behaviour. A leased take of an ordered queue now gets one item per group,
which the tests of bug 2 (a group's items coming back out of put order) build on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from disqueue.config import Limits
from disqueue.core import QueueNames, QueueService, Want
from disqueue.core.service import lease_of
from disqueue.models import Item, NewItem, QueueSettings
from disqueue.storage.postgres.storage import PostgresStorage
from tests import pg

from .conftest import Backend
from .test_ordered import _deadlines, _ordered


async def _put(service: QueueService, name: str, *pairs: str, **kw: object) -> None:
    for pair in pairs:
        key, value = pair.split(":")
        await service.put(name, NewItem(value, key or None, **kw))  # type: ignore[arg-type]


async def _take(service: QueueService, name: str, count: int = 1, **kw: object) -> list[Item]:
    return await service.take_many(name, count=count, lease=30.0, **kw)  # type: ignore[arg-type]


def _values(items: list[Item]) -> list[str]:
    return [item.value for item in items]


def _keys_in_flight(takes: list[list[Item]]) -> list[str | None]:
    return [item.key for items in takes for item in items]


async def _waiting(service: QueueService, name: str, task: asyncio.Task[list[Item]]) -> None:
    """Let `task` (a long poll on `name`) reach its wait: its want registered, empty."""
    for _ in range(1000):
        if service.consumers(name) or task.done():
            break
        await asyncio.sleep(0.001)  # a bound on the steps, not a timing asserted
    assert service.consumers(name) == 1 and not task.done()


# -- two of a group in flight ---------------------------------------------------------------


async def test_concurrent_takes_never_put_two_of_a_group_in_flight(backend: Backend) -> None:
    """Takes running at once (many consumers of one queue: the normal case) each get at
    most the head of a free group: the one group's items never go to two takes at once.
    SQLite: a take reserves its items (out of the index) before its lease is stored, and
    `held()` reads only leases, so the next take finds the group free. PostgreSQL: the
    take combiner runs takes waiting together as one statement of their added counts,
    and one take of count 2 may return two items of a group, shared out to two takes."""
    service = backend.service
    name = await _ordered(service)
    await _put(service, name, "a:a1", "a:a2", "a:a3")
    await service.info(name)  # the queue's id is cached: the takes go out in one tick
    takes = await asyncio.gather(*(_take(service, name) for _ in range(3)))
    assert _keys_in_flight(list(takes)) == ["a"]


async def test_delay_ending_at_the_front_never_lets_the_next_item_through(
    backend: Backend,
) -> None:
    """A head released with a delay holds its group; when the delay ends it is ready
    again at the front. A take meanwhile must not get the item behind it. Embedded:
    `_end_delay` pops the item from `queue.delayed` before storage has moved it, and
    until then it is neither delayed nor ready, so `held()` misses it (SQLite yields
    there; the memory persistence never does)."""
    service = backend.service
    name = await _ordered(service)
    await _put(service, name, "a:a1", "a:a2")
    (a1,) = await _take(service, name)
    await service.release(name, lease_of(a1), 10.0)
    backend.clock.now += 11.0
    assert backend.storage is not None
    _, taken = await asyncio.gather(backend.storage.run_deadlines(), _take(service, name))
    after = await _take(service, name)
    assert _values(taken + after) == ["a1"]  # a1 (now or next), never a2 before it


@pytest.fixture
async def nodes() -> AsyncIterator[tuple[PostgresStorage, PostgresStorage]]:
    with pg.fresh_schema() as schema:
        a, b = PostgresStorage(pg.DSN, schema), PostgresStorage(pg.DSN, schema)
        await asyncio.gather(a.open(), b.open())
        yield a, b
        await asyncio.gather(a.close(), b.close())


async def test_takes_on_two_nodes_serialize_per_ordered_queue(
    nodes: tuple[PostgresStorage, PostgresStorage],
) -> None:
    """One take on each of two nodes at once, many rounds: the advisory lock makes the
    second see the first's lease; each group has at most one item in flight, and each
    group's items come in put order."""
    a, b = nodes
    await a.create_queue("q", QueueSettings(ordered=True))
    await b.settings("q")
    groups = 5
    for n in range(4):
        for g in range(groups):
            await a.put("q", Item(f"{g}-{n}", f"k{g}"))
    seen: dict[str, list[str]] = {}
    for _ in range(4 * groups):
        takes = await asyncio.gather(*(node.take_many("q", None, 1, 30.0) for node in nodes))
        keys = _keys_in_flight(list(takes))
        assert len(keys) == len(set(keys)), keys
        for items in takes:
            for item in items:
                seen.setdefault(item.key or "", []).append(item.value)
        for node, items in zip(nodes, takes, strict=True):
            await node.ack("q", [lease_of(item) for item in items])
    assert seen == {f"k{g}": [f"{g}-{n}" for n in range(4)] for g in range(groups)}


async def test_an_ack_on_one_node_wakes_a_consumer_waiting_on_the_other(
    nodes: tuple[PostgresStorage, PostgresStorage],
) -> None:
    """A long poll on node a waits on a held group; the head is acked on node b: node
    a's consumer is woken (b tells the other nodes) and gets the next item."""
    a, b = nodes
    service = QueueService(a, QueueNames(), Limits())
    name = await _ordered(service)
    for value in ("a1", "a2"):
        await a.put(name, Item(value, "a"))
    (head,) = await b.take_many(name, None, 1, 30.0)
    waiting = asyncio.create_task(service.take_many(name, count=1, lease=30.0, wait=300.0))
    await _waiting(service, name, waiting)
    assert await b.ack(name, [lease_of(head)]) == [True]
    got = await asyncio.wait_for(waiting, 60.0)  # a safety bound, not a timing
    assert _values(got) == ["a2"]


# -- order within a group after its items come back --------------------------------------


async def _drain(service: QueueService, name: str) -> list[str]:
    """Every item left, each taken (leased, a count of 2) and acked in turn."""
    values: list[str] = []
    while items := await _take(service, name, 2):
        values += _values(items)
        for item in items:
            await service.ack(name, lease_of(item))
    return values


async def _a_group_head_in_flight(service: QueueService) -> tuple[str, Item]:
    """An ordered queue of the group `a` (a1, a2, a3) whose head a1 is in flight: a
    leased take of 2 gets it alone (one item per group)."""
    name = await _ordered(service)
    await _put(service, name, "a:a1", "a:a2", "a:a3")
    (a1,) = await _take(service, name, 2)
    return name, a1


async def test_items_released_one_by_one_come_back_in_put_order(backend: Backend) -> None:
    """Review bug 2 (a group's items given back one by one came back reversed) cannot
    happen: a leased take gets one item per group, so one is in flight at a time, and
    one released goes back ahead of the rest of its group."""
    service = backend.service
    name, a1 = await _a_group_head_in_flight(service)
    await service.release(name, lease_of(a1), 0.0)
    (again,) = await _take(service, name, 2)
    assert again.value == "a1"
    await service.release(name, lease_of(again), 0.0)
    assert await _drain(service, name) == ["a1", "a2", "a3"]


class Gone:
    """A consumer whose connection closed: it refuses every item offered."""

    def takes_handoff(self) -> bool:
        return True

    def deliver(self, want: Want, item: Item, written: asyncio.Future[None] | None) -> bool:
        return False


async def test_a_want_refusing_its_items_gives_the_group_back_in_put_order(
    backend: Backend,
) -> None:
    """The same without any client choosing it: a leased want of a count is served the
    group's head alone; a want without a lease gets several of the group, and, its
    consumer gone, the service gives them back together, in put order (they went back
    one put at the front each, the last first, and came back a2, a1)."""
    service = backend.service
    name = await _ordered(service)
    await _put(service, name, "a:a1", "a:a2")
    assert await service.want(Gone(), "w", name, None, lease=30.0, count=2) is None
    assert await service.want(Gone(), "w", name, None, count=2) is None  # without a lease
    assert _values(await service.take_many(name, count=2)) == ["a1", "a2"]


async def test_a_release_with_delay_keeps_put_order(backend: Backend) -> None:
    """The head released with a delay holds its group while it waits and comes back
    ahead of the rest of it."""
    service = backend.service
    name, a1 = await _a_group_head_in_flight(service)
    await service.release(name, lease_of(a1), 5.0)
    assert _values(await _take(service, name, 2)) == []
    await _deadlines(backend, 6.0)
    assert await _drain(service, name) == ["a1", "a2", "a3"]


async def test_a_touched_lease_ending_later_keeps_put_order(backend: Backend) -> None:
    """The head's lease, touched, ends later: the group waits for it, then it comes
    back first."""
    service = backend.service
    name, a1 = await _a_group_head_in_flight(service)
    await service.touch(name, lease_of(a1), 60.0)
    await _deadlines(backend, 31.0)
    assert _values(await _take(service, name, 2)) == []
    await _deadlines(backend, 30.0)  # a1's lease ran out
    assert await _drain(service, name) == ["a1", "a2", "a3"]


async def test_an_ordered_dead_letter_queue_delivers_each_key_in_put_order(
    backend: Backend,
) -> None:
    """Items dead-lettered into an ordered queue keep their priority (the contract), but
    an ordered queue delivers by position only: a group's later item with a higher
    priority does not overtake its earlier one (review bug 4). Priority is refused at an
    ordered queue's put, not at the other ways in (dead letters, redrive)."""
    service = backend.service
    letters = await _ordered(service)
    name = await service.create_queue(settings=QueueSettings(max_attempts=1, dead_letter=letters))
    for item in (NewItem("a1", "a"), NewItem("a2", "a", priority=5)):
        await service.put(name, item)  # each to the dead letters in turn: a1, then a2
        assert len(await _take(service, name)) == 1
        await _deadlines(backend, 31.0)
    taken = await service.take_many(letters, count=2)  # without a lease: both, in order
    assert [(item.value, item.priority) for item in taken] == [("a1", 0), ("a2", 5)]


# -- waking and restarts ----------------------------------------------------------------


async def test_a_delayed_head_dropped_by_its_ttl_wakes_the_consumers(backend: Backend) -> None:
    """A head delayed at the front whose ttl ends is dropped, which frees its group:
    the queue's consumers are woken (items are takeable that no put made so), as the
    embedded backend does (`_end_ttl` calls `_freed`), and PostgreSQL's sweep too (review
    bug 6: it counted the ttl drops but told nobody)."""
    service, storage = backend.service, backend.storage
    assert storage is not None
    name = await _ordered(service)
    await _put(service, name, "a:a1", ttl=15.0)
    await _put(service, name, "a:a2")
    (a1,) = await _take(service, name)
    await service.release(name, lease_of(a1), 60.0)  # waits at the front past its ttl
    assert await _take(service, name) == []
    woken: list[str] = []
    storage.on_ready = woken.append  # the service's wake, seen from here
    if isinstance(storage, PostgresStorage):
        storage.node.waiting(name, False)  # the safety net's mark: not what is tested
    await _deadlines(backend, 20.0)
    assert name in woken
    assert _values(await _take(service, name)) == ["a2"]


async def test_a_long_poll_waiting_on_a_held_group_gets_its_next_item_on_ack(
    backend: Backend,
) -> None:
    """A consumer waiting (long poll) while the only group is held gets the group's
    next item when the head is acked, without any put."""
    service = backend.service
    name = await _ordered(service)
    await _put(service, name, "a:a1", "a:a2")
    (a1,) = await _take(service, name)
    waiting = asyncio.create_task(service.take_many(name, count=1, lease=30.0, wait=300.0))
    await _waiting(service, name, waiting)
    await service.ack(name, lease_of(a1))
    got = await asyncio.wait_for(waiting, 60.0)  # a safety bound, not a timing
    assert _values(got) == ["a2"]


async def test_a_long_poll_on_a_held_group_gets_its_head_when_its_lease_ends(
    backend: Backend,
) -> None:
    """The same when the head's lease runs out: the waiting consumer gets the head."""
    service = backend.service
    name = await _ordered(service)
    await _put(service, name, "a:a1", "a:a2")
    await _take(service, name)
    waiting = asyncio.create_task(service.take_many(name, count=1, lease=30.0, wait=300.0))
    await _waiting(service, name, waiting)
    await _deadlines(backend, 31.0)
    got = await asyncio.wait_for(waiting, 60.0)
    assert _values(got) == ["a1"]


async def test_a_delayed_head_still_holds_its_group_after_a_restart(backend: Backend) -> None:
    """A head released with a delay still holds its group right after a restart (not
    only once its delay ended), and a lease in flight of another group too."""
    if backend.kind == "memory":
        return  # nothing survives a restart of the memory backend
    service = backend.service
    name = await _ordered(service)
    await _put(service, name, "a:a1", "a:a2", "b:b1", "b:b2", "c:c1")
    (a1,) = await _take(service, name, key="a")
    assert _values(await _take(service, name, key="b")) == ["b1"]
    await service.release(name, lease_of(a1), 10.0)
    await backend.restart()
    assert _values(await _take(backend.service, name, 5)) == ["c1"]
    await _deadlines(backend, 11.0)
    assert _values(await _take(backend.service, name, 5)) == ["a1"]  # one per group


# -- the rest of the rule, pinned -----------------------------------------------------------


async def test_redriven_items_wait_behind_their_group_in_flight(backend: Backend) -> None:
    """Dead letters redriven into an ordered queue join their group at the back: while
    the group has an item in flight they wait; keys compare case-insensitively."""
    service = backend.service
    letters = await service.create_queue()
    name = await _ordered(service, max_attempts=1, dead_letter=letters)
    await _put(service, name, "K:k1", "k:k2")
    assert _values(await _take(service, name)) == ["k1"]
    await _deadlines(backend, 31.0)  # k1 to the dead letters
    assert _values(await _take(service, name)) == ["k2"]
    assert await service.redrive(letters) == 1
    assert _values(await _take(service, name, 3)) == []  # k2 in flight holds the group
    assert _values(await _take(service, name, key="K")) == []
    await _deadlines(backend, 31.0)  # k2 dead-lettered too: k1 is the group's head
    assert _values(await _take(service, name, 3, key="k")) == ["k1"]


async def test_keyed_takes_counts_and_takes_without_lease(backend: Backend) -> None:
    """A leased keyed take of a count takes its free group's head only; a take without a
    lease of an item behind nothing leaves its group free; unkeyed items pass held
    groups; a pause delivers nothing and a resume the same as before."""
    service = backend.service
    name = await _ordered(service)
    await _put(service, name, "a:a1", "a:a2", "a:a3", ":n1", "b:b1", ":n2")
    assert _values(await _take(service, name, 2, key="A")) == ["a1"]  # one per group
    assert _values(await service.take_many(name, "b", count=5)) == ["b1"]
    await service.pause(name)
    assert await _take(service, name, 5) == []
    await service.resume(name)
    assert _values(await _take(service, name, 5)) == ["n1", "n2"]
    info = await service.info(name)
    assert (info["in_flight"], info["size"]) == (3, 2)


async def test_purge_with_in_flight_frees_every_group(backend: Backend) -> None:
    """A purge of the items in flight frees their groups: a later put is delivered, and
    the purged receipt names nothing."""
    service = backend.service
    name = await _ordered(service)
    await _put(service, name, "a:a1", "a:a2")
    (a1,) = await _take(service, name)
    assert await service.purge(name) == 1  # the ready a2 only
    assert _values(await _take(service, name)) == []
    await _put(service, name, "a:a3")
    assert _values(await _take(service, name)) == []  # a1 still in flight
    assert await service.purge(name, in_flight=True) == 2
    assert await service.release_many(name, [lease_of(a1)]) == [False]
    await _put(service, name, "a:a4")
    assert _values(await _take(service, name)) == ["a4"]
