"""Ordered keys (API.md Part 3) on every backend, step by step with the fake clock: the
cases the model test draws only now and then (a release with a delay holding its group,
a ttl ending under a held group, a restart with groups held)."""

from __future__ import annotations

import pytest

from disqueue.core import QueueService
from disqueue.core.service import lease_of
from disqueue.errors import DisqueueError, NoItem
from disqueue.models import NewItem, QueueSettings

from .conftest import Backend


async def _ordered(service: QueueService, **settings: object) -> str:
    return await service.create_queue(settings=QueueSettings(ordered=True, **settings))  # type: ignore[arg-type]


async def _put(service: QueueService, name: str, *pairs: str, ttl: float | None = None) -> None:
    for pair in pairs:
        key, value = pair.split(":")
        await service.put(name, NewItem(value, key or None, ttl=ttl))


async def _values(service: QueueService, name: str, count: int = 1, **kw: object) -> list[str]:
    items = await service.take_many(name, count=count, lease=30.0, **kw)  # type: ignore[arg-type]
    return [item.value for item in items]


async def _deadlines(backend: Backend, seconds: float) -> None:
    backend.clock.now += seconds
    assert backend.storage is not None
    await backend.storage.run_deadlines()


async def test_group_held_while_in_flight_and_freed_by_ack(backend: Backend) -> None:
    """A leased item holds its key's group: takes skip the group (keyed takes find
    nothing) until it is acked; items without a key are never held."""
    service = backend.service
    name = await _ordered(service)
    await _put(service, name, "a:a1", "a:a2", "b:b1", ":n1", "A:a3")
    first = await service.take_many(name, lease=30.0)
    assert [i.value for i in first] == ["a1"]
    assert await _values(service, name, 3) == ["b1", "n1"]
    assert await _values(service, name, key="a") == []
    with pytest.raises(NoItem):  # a peek sees what a take would get: nothing
        await service.peek(name)
    await service.ack(name, lease_of(first[0]))
    assert await _values(service, name, key="A") == ["a2"]
    assert (await service.info(name))["ordered"] is True


async def test_a_leased_take_gets_one_item_per_group(backend: Backend) -> None:
    """A leased take with a count returns the free groups' heads in put order, one item
    per group (the first it chose holds its group for the rest of the take), and
    nothing more of them afterwards; a keyed one, the head only. A take without a lease
    returns several of a free group, in order."""
    service = backend.service
    name = await _ordered(service)
    await _put(service, name, "a:a1", "a:a2", "b:b1", "a:a3", "c:c1", "c:c2")
    assert await _values(service, name, 3) == ["a1", "b1", "c1"]
    assert await _values(service, name, 3) == []
    assert (await service.info(name))["in_flight"] == 3
    await _put(service, name, "d:d1", "d:d2", "d:d3")
    assert await _values(service, name, 3, key="d") == ["d1"]
    await _put(service, name, "e:e1", "e:e2", ":n1")
    taken = await service.take_many(name, "e", count=3)  # without a lease
    assert [item.value for item in taken] == ["e1", "e2"]


async def test_release_with_delay_holds_the_group_until_its_head_is_back(
    backend: Backend,
) -> None:
    """A release with a delay puts the item back at the front of its group, and the group
    stays held while it waits: a later item of the key never overtakes it (a retry delay
    after a lease runs out, the same); across a restart too."""
    service = backend.service
    name = await _ordered(service, retry_delays=(20.0,))
    await _put(service, name, "a:a1", "a:a2", "b:b1")
    (a1,) = await service.take_many(name, lease=30.0)
    await service.release(name, lease_of(a1), 10.0)
    assert await _values(service, name, 3) == ["b1"]  # a2 waits behind the delayed a1
    if backend.kind != "memory":
        await backend.restart()
        service = backend.service
    await _deadlines(backend, 11.0)
    assert await _values(service, name, 3) == ["a1"]  # b1 is in flight
    await _deadlines(backend, 31.0)  # every lease ran out: retry delay of 20 s
    assert await _values(service, name, 3) == []
    await _deadlines(backend, 21.0)
    assert await _values(service, name, 3) == ["a1", "b1"]  # a2 waits behind a1


async def test_held_group_survives_a_restart(backend: Backend) -> None:
    """A lease in flight still holds its group after a restart, and the queue is still
    ordered (on a durable backend)."""
    if backend.kind == "memory":
        return  # nothing survives a restart of the memory backend
    service = backend.service
    name = await _ordered(service)
    await _put(service, name, "a:a1", "a:a2")
    assert await _values(service, name) == ["a1"]
    await backend.restart()
    assert (await backend.service.info(name))["ordered"] is True
    assert await _values(backend.service, name) == []
    await _deadlines(backend, 31.0)
    assert await _values(backend.service, name, 2) == ["a1"]  # one item per group


async def test_dead_letter_expiry_and_purge_free_the_group(backend: Backend) -> None:
    """The group frees when its item in flight goes on to the dead-letter queue, when
    its ttl ended while it waited at the front, and when a purge drops it in flight."""
    service = backend.service
    letters = await service.create_queue()
    name = await _ordered(service, max_attempts=1, dead_letter=letters)
    await _put(service, name, "a:a1", "a:a2")
    assert await _values(service, name) == ["a1"]
    await _deadlines(backend, 31.0)  # its only attempt: on to the dead-letter queue
    assert await _values(service, name) == ["a2"]
    other = await _ordered(service)
    await _put(service, other, "b:b1", ttl=15.0)
    await _put(service, other, "b:b2")
    (b1,) = await service.take_many(other, lease=30.0)
    await service.release(other, lease_of(b1), 60.0)  # waits at the front past its ttl
    assert await _values(service, other) == []
    await _deadlines(backend, 20.0)
    assert await _values(service, other) == ["b2"]
    await _put(service, other, "b:b3")
    assert await service.purge(other, in_flight=True) == 2
    await _put(service, other, "b:b4")
    assert await _values(service, other) == ["b4"]


async def test_take_without_lease_holds_nothing(backend: Backend) -> None:
    """An item taken without a lease is gone at once: its group stays free."""
    service = backend.service
    name = await _ordered(service)
    await _put(service, name, "a:a1", "a:a2")
    assert [i.value for i in await service.take_many(name, count=1)] == ["a1"]
    assert [i.value for i in await service.take_many(name, count=1)] == ["a2"]


async def test_priority_and_a_change_of_ordered_are_refused(backend: Backend) -> None:
    """A priority on an ordered queue is refused (one put or a batch), `ordered` cannot
    change, and a re-create with another `ordered` is a conflict."""
    service = backend.service
    name = await _ordered(service)
    failures = []
    for attempt in (
        service.put(name, NewItem("x", priority=3)),
        service.put_many(name, [NewItem("x"), NewItem("y", priority=1)]),
        service.change_settings(name, ordered=False),
        service.create_queue(name, QueueSettings()),  # none given: 200, kept as it is
        service.create_queue(name, QueueSettings(lease=5.0, ordered=True)),
        service.create_queue(name, QueueSettings(ordered=False, lease=5.0)),
    ):
        try:
            await attempt
            failures.append("ok")
        except DisqueueError as exc:
            failures.append(exc.message)
    assert failures == [
        "invalid parameter 'priority'",
        "items[1]: invalid parameter 'priority'",
        "invalid parameter 'ordered': it cannot change",
        "ok",
        "queue exists with other settings",
        "queue exists with other settings",
    ]
    assert await service.take_many(name) == []  # nothing was stored


async def test_a_take_behind_many_held_items_finds_the_free_groups_in_order(
    backend: Backend,
) -> None:
    """Behind more held items than a take walks past (the embedded index then compares
    the free keys' and the unkeyed items' heads), the free groups still come in put
    order, unkeyed items among them, one item of a group in one leased take; a released
    item back at the front comes first."""
    service = backend.service
    name = await _ordered(service)
    await _put(service, name, *[f"h:h{n}" for n in range(80)])
    await _put(service, name, "c:c1", ":n1", "b:b1", "c:c2", ":n2", "b:b2", "d:d1")
    assert await _values(service, name) == ["h0"]
    taken = await service.take_many(name, count=4, lease=30.0)
    assert [item.value for item in taken] == ["c1", "n1", "b1", "n2"]  # c2: c1 holds c
    await service.release(name, lease_of(taken[3]), 0.0)
    assert await _values(service, name, 5) == ["n2", "d1"]  # c2, b2: c1, b1 in flight
    with pytest.raises(NoItem):
        await service.peek(name)
