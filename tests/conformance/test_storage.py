"""The storage rules every backend must keep: FIFO, key matching, queue lifecycle."""

from __future__ import annotations

import asyncio

import pytest

from disqueue.errors import QueueNotFound
from disqueue.models import Item
from disqueue.storage import Storage

Q = "6f1c0b2e-0000-4000-8000-000000000001"
R = "6f1c0b2e-0000-4000-8000-000000000002"


async def test_create_is_idempotent(storage: Storage) -> None:
    """Creating a queue twice keeps one queue and reports the second as not new."""
    assert await storage.create_queue(Q) is True
    assert await storage.create_queue(Q) is False
    assert await storage.queues() == [Q]
    assert await storage.queue_count() == 1


async def test_queues_listed_oldest_first(storage: Storage) -> None:
    """The queue list is in creation order."""
    await storage.create_queue(R)
    await storage.create_queue(Q)
    assert await storage.queues() == [R, Q]


async def test_fifo(storage: Storage) -> None:
    """Unkeyed takes return items in the order they were put, whatever their key."""
    await storage.create_queue(Q)
    for i, key in enumerate(["a", None, "b", "a"]):
        await storage.put(Q, Item(value=str(i), key=key))
    taken = [await storage.take(Q, None) for _ in range(4)]
    assert [item.value for item in taken if item] == ["0", "1", "2", "3"]
    assert await storage.take(Q, None) is None


async def test_keyed_take_matches_case_insensitively(storage: Storage) -> None:
    """A keyed take returns the oldest item with that key, ignoring case, and skips others."""
    await storage.create_queue(Q)
    await storage.put(Q, Item(value="none"))
    await storage.put(Q, Item(value="first", key="Apple"))
    await storage.put(Q, Item(value="other", key="pear"))
    await storage.put(Q, Item(value="second", key="APPLE"))
    first = await storage.take(Q, "apple")
    second = await storage.take(Q, "aPPle")
    assert (first and first.value, second and second.value) == ("first", "second")
    assert await storage.take(Q, "apple") is None
    rest = [await storage.take(Q, None) for _ in range(2)]
    assert [item.value for item in rest if item] == ["none", "other"]


async def test_unkeyed_items_never_match_a_key(storage: Storage) -> None:
    """Items without a key are invisible to keyed takes and peeks."""
    await storage.create_queue(Q)
    await storage.put(Q, Item(value="v"))
    assert await storage.peek(Q, "") is None
    assert await storage.take(Q, "x") is None


async def test_peek_does_not_remove(storage: Storage) -> None:
    """Peek returns what take would, and leaves it there."""
    await storage.create_queue(Q)
    item = Item(value="v", key="k")
    await storage.put(Q, item)
    peeked = await storage.peek(Q, "K")
    assert peeked is not None and peeked.id == item.id
    taken = await storage.take(Q, None)
    assert taken is not None and taken.id == item.id


async def test_put_front_goes_first_for_keyed_and_unkeyed(storage: Storage) -> None:
    """An item given back is the next one taken, by key and without."""
    await storage.create_queue(Q)
    await storage.put(Q, Item(value="a", key="k"))
    await storage.put(Q, Item(value="b", key="k"))
    taken = await storage.take(Q, None)
    assert taken is not None
    await storage.put_front(Q, taken)
    keyed = await storage.peek(Q, "k")
    unkeyed = await storage.take(Q, None)
    assert keyed is not None and unkeyed is not None
    assert (keyed.value, unkeyed.value) == ("a", "a")


async def test_delete_drops_items(storage: Storage) -> None:
    """A deleted queue is gone with its items; a new queue of the same name is empty."""
    await storage.create_queue(Q)
    await storage.put(Q, Item(value="v"))
    await storage.delete_queue(Q)
    assert not await storage.exists(Q)
    with pytest.raises(QueueNotFound):
        await storage.delete_queue(Q)
    await storage.create_queue(Q)
    assert await storage.take(Q, None) is None


@pytest.mark.parametrize("action", ["put", "put_front", "take", "peek", "info", "count_handoff"])
async def test_unknown_queue(storage: Storage, action: str) -> None:
    """Every item operation on a missing queue raises QueueNotFound."""
    method = getattr(storage, action)
    args = {"put": (Item("v"),), "put_front": (Item("v"),), "take": (None,), "peek": (None,)}
    with pytest.raises(QueueNotFound):
        await method(Q, *args.get(action, ()))


async def test_info_counts(storage: Storage) -> None:
    """Info reports the ready size and the put and taken totals."""
    await storage.create_queue(Q)
    for value in "abc":
        await storage.put(Q, Item(value=value))
    await storage.take(Q, None)
    await storage.count_handoff(Q)
    info = await storage.info(Q)
    assert (info.name, info.size, info.put, info.taken) == (Q, 2, 4, 2)


async def test_concurrent_creates_and_deletes_of_one_name(storage: Storage) -> None:
    """Racing creates make one queue; a create racing a delete waits for it, and neither
    fails the other requests committed with it."""
    created = await asyncio.gather(*(storage.create_queue(Q) for _ in range(5)))
    assert sorted(created) == [False, False, False, False, True]
    await storage.put(Q, Item("old"))
    results = await asyncio.gather(
        storage.delete_queue(Q), storage.create_queue(Q), storage.create_queue(R)
    )
    assert results == [None, True, True]
    assert set(await storage.queues()) == {Q, R}
    assert await storage.take(Q, None) is None  # the old items went with the old queue
