"""Keyed take against unkeyed take in the storage core, in-process; and takes over ten
priorities against plain takes.

A queue holds 100,000 items under 10,000 distinct keys. We time unkeyed takes,
refill, then time takes by random existing keys; then the same with ten times the
items. If a keyed take scanned the queue it would cost thousands of times more than
an unkeyed one and grow with the queue; the issue asks for about the same cost.
(Keyed takes jump around memory, unkeyed ones walk it in order: expect a small
constant factor, not growth.)

Priorities: the same queue with each item given priority i % 10 (so the index has ten
levels), taken unkeyed and by key, against the plain queue's takes of the same run. A
take looks at each priority present at most once: expect a small constant factor.

    .venv/bin/python bench/core_keyed.py [--items N] [--keys K] [--takes T]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from disqueue.models import Item, NewItem
from disqueue.storage.embedded.memory import MemoryStorage

QUEUE = "6f1c0b2e-0000-4000-8000-0000000be9c4"


async def fill(storage: MemoryStorage, items: int, keys: int) -> None:
    await storage.create_queue(QUEUE)
    for i in range(items):
        await storage.put(QUEUE, Item(value="x" * 100, key=f"key-{i % keys}"))


async def fill_priorities(storage: MemoryStorage, items: int, keys: int) -> None:
    await storage.create_queue(QUEUE)
    batch = [NewItem("x" * 100, f"key-{i % keys}", priority=(i // keys) % 10) for i in range(items)]
    for start in range(0, items, 1000):
        await storage.put_many(QUEUE, batch[start : start + 1000])


async def timed_takes(storage: MemoryStorage, keys: list[str | None]) -> float:
    """Seconds per take over `keys` (None: unkeyed); every take must find an item."""
    start = time.perf_counter()
    for key in keys:
        if await storage.take(QUEUE, key) is None:
            raise SystemExit(f"no item for key {key!r}: the benchmark's fill is wrong")
    return (time.perf_counter() - start) / len(keys)


async def measure(items: int, keys: int, takes: int) -> None:
    rng = random.Random(1)
    unkeyed_storage, keyed_storage = MemoryStorage(), MemoryStorage()
    await fill(unkeyed_storage, items, keys)
    await fill(keyed_storage, items, keys)
    # Take each chosen key at most items/keys times so every take finds an item.
    pool = [f"key-{k}" for k in range(keys) for _ in range(items // keys)]
    rng.shuffle(pool)
    unkeyed = await timed_takes(unkeyed_storage, [None] * takes)
    keyed = await timed_takes(keyed_storage, list(pool[:takes]))
    print(f"core take, {items:,} items under {keys:,} keys, {takes:,} takes each")
    print(f"  unkeyed take  {unkeyed * 1e6:8.2f} us/take")
    print(f"  keyed take    {keyed * 1e6:8.2f} us/take")
    print(f"  keyed/unkeyed {keyed / unkeyed:8.2f}x")
    prioritised, prioritised_keyed = MemoryStorage(), MemoryStorage()
    await fill_priorities(prioritised, items, keys)
    await fill_priorities(prioritised_keyed, items, keys)
    by_priority = await timed_takes(prioritised, [None] * takes)
    by_priority_keyed = await timed_takes(prioritised_keyed, list(pool[:takes]))
    print(f"  10 priorities, take        {by_priority * 1e6:8.2f} us/take"
          f"  ({by_priority / unkeyed:.2f}x plain take)")  # fmt: skip
    print(f"  10 priorities, keyed take  {by_priority_keyed * 1e6:8.2f} us/take"
          f"  ({by_priority_keyed / keyed:.2f}x plain keyed take)")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--takes", type=int, default=50_000)
    args = parser.parse_args()
    for scale in (1, 10):
        asyncio.run(measure(args.items * scale, args.keys * scale, args.takes))
