"""Keyed take against unkeyed take in the storage core, in-process.

A queue holds 100,000 items under 10,000 distinct keys. We time unkeyed takes,
refill, then time takes by random existing keys; then the same with ten times the
items. If a keyed take scanned the queue it would cost thousands of times more than
an unkeyed one and grow with the queue; the issue asks for about the same cost.
(Keyed takes jump around memory, unkeyed ones walk it in order: expect a small
constant factor, not growth.)

    .venv/bin/python bench/core_keyed.py [--items N] [--keys K] [--takes T]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from disqueue.models import Item
from disqueue.storage.embedded.memory import MemoryStorage

QUEUE = "6f1c0b2e-0000-4000-8000-0000000be9c4"


async def fill(storage: MemoryStorage, items: int, keys: int) -> None:
    await storage.create_queue(QUEUE)
    for i in range(items):
        await storage.put(QUEUE, Item(value="x" * 100, key=f"key-{i % keys}"))


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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--takes", type=int, default=50_000)
    args = parser.parse_args()
    for scale in (1, 10):
        asyncio.run(measure(args.items * scale, args.keys * scale, args.takes))
