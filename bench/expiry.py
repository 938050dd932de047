"""How late lease expiry fires: the one timer structure of the embedded backends.

Leases 2,000 items with leases spread over 0.2-1.2 s, then records, for each item,
how long after its lease's end it was back in its queue (the storage's on_ready
call, which is what wakes waiting consumers). The issue asks for within 100 ms.

    .venv/bin/python bench/expiry.py
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path

from disqueue.models import NewItem
from disqueue.storage.embedded.memory import MemoryStorage
from disqueue.storage.embedded.rules import RuleStorage
from disqueue.storage.embedded.sqlite import SQLiteStorage

ITEMS = 2000
QUEUE = "e8b1e000-0000-4000-8000-000000000001"


async def lateness(storage: RuleStorage) -> list[float]:
    await storage.open()
    await storage.create_queue(QUEUE)
    await storage.put_many(QUEUE, [NewItem("x" * 100) for _ in range(ITEMS)])
    rng = random.Random(7)
    ends: dict[str, float] = {}
    for _ in range(ITEMS):
        item = await storage.take(QUEUE, None, lease=rng.uniform(0.2, 1.2))
        assert item is not None and item.lease_expires is not None
        ends[item.id] = item.lease_expires
    late: list[float] = []
    done = asyncio.Event()

    def ready(name: str) -> None:
        now = time.time()
        for item_id, end in list(ends.items()):
            if item_id not in storage._queues[QUEUE].leases:  # back in the queue
                late.append(now - end)
                del ends[item_id]
        if not ends:
            done.set()

    storage.on_ready = ready
    await asyncio.wait_for(done.wait(), 10)
    await storage.close()
    return sorted(late)


def report(name: str, late: list[float]) -> None:
    def ms(q: float) -> float:
        return late[int(q * (len(late) - 1))] * 1000

    worst = late[-1] * 1000
    print(f"  {name:<7} p50 {ms(0.5):6.1f} ms   p99 {ms(0.99):6.1f} ms   max {worst:6.1f} ms")


async def main() -> None:
    print(f"lease expiry lateness, {ITEMS:,} leases of 0.2-1.2 s (target: within 100 ms)")
    report("memory", await lateness(MemoryStorage()))
    with tempfile.TemporaryDirectory() as folder:
        report("sqlite", await lateness(SQLiteStorage(Path(folder) / "expiry.db")))


if __name__ == "__main__":
    asyncio.run(main())
