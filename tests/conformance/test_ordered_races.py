"""Leased takes of an ordered queue racing each other, on every backend: a group is
never in flight for two takes at once, however their writes to storage interleave (the
SQLite backend records a take's leases only after its write: found by the SQS FIFO test
with four consumers, and by the ordered keys' eight-consumer test; the items on their way
into flight hold their groups, `QueueState.transit`)."""

from __future__ import annotations

import asyncio

from disqueue.config import Limits
from disqueue.core import QueueNames, QueueService
from disqueue.core.service import lease_of
from disqueue.models import NewItem, QueueSettings
from disqueue.storage import Storage

GROUPS, PER_GROUP, CONSUMERS = 5, 8, 4


async def test_racing_takes_never_share_a_group(storage: Storage) -> None:
    """Four consumers take up to 3 at a time and ack them: no group is held by two
    consumers at once, and every group is delivered whole, in put order."""
    service = QueueService(storage, QueueNames(), Limits())
    name = await service.create_queue(settings=QueueSettings(ordered=True))
    items = [NewItem(f"g{g}-{i}", key=f"g{g}") for i in range(PER_GROUP) for g in range(GROUPS)]
    await service.put_many(name, items)
    holders: dict[str, tuple[int, int]] = {}
    seen: dict[str, list[str]] = {f"g{g}": [] for g in range(GROUPS)}
    faults: list[str] = []

    async def consume(me: int) -> None:
        while sum(map(len, seen.values())) < GROUPS * PER_GROUP and not faults:
            taken = await service.take_many(name, count=3, lease=60)
            for item in taken:
                assert item.key is not None
                holder = holders.get(item.key)
                if holder is not None and holder[0] != me:
                    faults.append(f"{item.key}: consumers {holder[0]} and {me} at once")
                holders[item.key] = (me, (holder[1] if holder else 0) + 1)
                seen[item.key].append(item.value)
            for item in taken:
                assert item.key is not None
                count = holders[item.key][1]
                if count > 1:
                    holders[item.key] = (me, count - 1)
                else:
                    del holders[item.key]
                await service.ack(name, lease_of(item))
            if not taken:
                await asyncio.sleep(0.001)

    await asyncio.wait_for(asyncio.gather(*(consume(n) for n in range(CONSUMERS))), 60)
    assert faults == []
    assert seen == {f"g{g}": [f"g{g}-{i}" for i in range(PER_GROUP)] for g in range(GROUPS)}
