"""Puts and wants racing through the core, on every backend (storage with real awaits
shows races the memory backend hides)."""

from __future__ import annotations

import asyncio

from disqueue.config import Limits
from disqueue.core import QueueNames, QueueService, Want
from disqueue.errors import TooMany
from disqueue.models import Item, NewItem
from disqueue.storage import Storage

from .conftest import FakeClock, faulty


class Inbox:
    """A consumer that accepts everything and remembers it."""

    def __init__(self) -> None:
        self.got: list[str] = []
        self.arrived = asyncio.Event()

    def takes_handoff(self) -> bool:
        return True

    def deliver(self, want: Want, item: Item, receipt: asyncio.Future[None] | None) -> bool:
        self.got.append(item.value)
        self.arrived.set()
        if receipt is not None:
            receipt.set_result(None)
        return True


async def test_a_want_racing_a_put_gets_the_item(storage: Storage) -> None:
    """Whatever the interleaving of a put and a want, the want gets the item and nothing is
    left queued or delivered twice."""
    service = QueueService(storage, QueueNames(), Limits())
    for delay in (0.0, 0.0005, 0.001, 0.002, 0.005):
        name = await service.create_queue()
        inbox = Inbox()

        async def want_later(delay: float = delay, inbox: Inbox = inbox, name: str = name) -> None:
            await asyncio.sleep(delay)
            await service.want(inbox, "w", name, None)

        await asyncio.gather(service.put(name, NewItem("v")), want_later())
        await asyncio.wait_for(inbox.arrived.wait(), 2)
        assert inbox.got == ["v"]
        assert (await service.info(name))["size"] == 0


async def test_puts_racing_a_busy_want_are_not_given_twice(storage: Storage) -> None:
    """A want being served from storage is passed over by puts: each item reaches exactly
    one want, and every item is either delivered once or still queued."""
    service = QueueService(storage, QueueNames(), Limits())
    name = await service.create_queue()
    await service.put(name, NewItem("stored"))
    inbox = Inbox()
    await asyncio.gather(
        service.want(inbox, "w", name, None, count=3),
        *(service.put(name, NewItem(f"p{i}")) for i in range(5)),
    )
    left = []
    while (await service.info(name))["size"]:
        left.append((await service.take(name)).value)
    everything = inbox.got + left
    assert sorted(everything) == sorted(["stored", "p0", "p1", "p2", "p3", "p4"])
    assert len(inbox.got) == 3


async def test_max_queues_holds_under_concurrent_creates(storage: Storage) -> None:
    """Concurrent creates never go past max_queues; the ones refused get 'too many queues'."""
    service = QueueService(storage, QueueNames(), Limits(max_queues=3))
    results = await asyncio.gather(
        *(service.create_queue() for _ in range(8)), return_exceptions=True
    )
    created = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, TooMany)]
    assert (len(created), len(refused)) == (3, 5)
    assert len(await service.queues()) == 3


async def test_a_put_for_a_waiting_leased_want_is_stored_in_flight_in_one_write() -> None:
    """A put while a want waits with a lease is stored already leased to it
    (`Storage.put_leased`, one write) and delivered before the put answers: on a disk
    that refuses leases it still reaches the want, where a put and then a leased take
    (the way before) would leave it queued."""
    disk, _, service = await faulty(FakeClock())
    name = await service.create_queue()
    inbox = Inbox()
    assert await service.want(inbox, "w", name, None, lease=30) is not None
    disk.failing.add("lease")
    await service.put(name, NewItem("v"))
    assert inbox.got == ["v"]
    info = await service.info(name)
    assert (info["size"], info["in_flight"]) == (0, 1)
