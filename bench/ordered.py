"""Ordered takes against plain takes, through each backend, in one run.

Two queues, one plain and one created `ordered`, get the same items: rounds of items
over 50 keys, key after key. Eight consumers (tasks) each take one item with a lease
and ack it, until the queue is empty; we time the drain of each queue, alternating
rounds so that a busy moment of the machine falls on both. On the ordered queue a take
passes over the groups held by the other seven consumers (memory and SQLite: a walk of
the ready order; PostgreSQL: the queue's advisory lock, then a probe of `items_held`
per key met). The figure is the ordered drain's items per second against the plain one.

    .venv/bin/python bench/ordered.py [--items N] [--rounds R] [--backends memory,sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from pathlib import Path

import asyncpg

from disqueue.config import StorageConfig
from disqueue.core.contract import parse_receipt
from disqueue.models import NewItem, QueueSettings
from disqueue.storage import Storage, open_storage

DSN = os.environ.get("DISQUEUE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
KEYS, CONSUMERS, LEASE = 50, 8, 30.0


async def fill(storage: Storage, queue: str, items: int) -> None:
    for start in range(0, items, 1000):
        batch = [
            NewItem("x" * 100, f"key-{i % KEYS}") for i in range(start, min(start + 1000, items))
        ]
        await storage.put_many(queue, batch)


async def held_ahead(storage: Storage, queue: str, items: int) -> int:
    """Fill `queue` with `items` items of one key, then `items` over the other keys, and
    lease the first: every later take passes over that held group's items."""
    for _ in range(0, items, 1000):
        await storage.put_many(queue, [NewItem("x" * 100, "hot") for _ in range(1000)])
    await fill(storage, queue, items)
    await storage.take_many(queue, None, 1, 3600.0)
    return items - 1


async def drain(storage: Storage, queue: str, items: int) -> float:
    """Seconds for eight consumers to take (leased) and ack `items` items."""
    left = [items]

    async def consume() -> None:
        while left[0] > 0:
            taken = await storage.take_many(queue, None, 1, LEASE)
            if not taken:  # every free group's head is with another consumer: again
                await asyncio.sleep(0)
                continue
            left[0] -= len(taken)
            assert taken[0].receipt is not None
            ref = parse_receipt(taken[0].receipt)
            assert ref is not None
            if not (await storage.ack(queue, [ref]))[0]:
                raise SystemExit("an ack failed")

    start = time.perf_counter()
    await asyncio.gather(*(consume() for _ in range(CONSUMERS)))
    return time.perf_counter() - start


async def measure(kind: str, config: StorageConfig, items: int, rounds: int) -> None:
    storage = open_storage(config)
    await storage.open()
    try:
        plain, ordered = f"bench-plain-{kind}", f"bench-ordered-{kind}"
        await storage.create_queue(plain)
        await storage.create_queue(ordered, QueueSettings(ordered=True))
        spent = {plain: 0.0, ordered: 0.0}
        for _ in range(rounds):
            for queue in (plain, ordered):
                await fill(storage, queue, items)
                spent[queue] += await drain(storage, queue, items)
        total = items * rounds
        plain_rate, ordered_rate = total / spent[plain], total / spent[ordered]
        print(f"  {kind:8} plain   {plain_rate:9,.0f} items/s")
        print(
            f"  {kind:8} ordered {ordered_rate:9,.0f} items/s  ({ordered_rate / plain_rate:.2f}x)"
        )
        hot = f"bench-hot-{kind}"
        await storage.create_queue(hot, QueueSettings(ordered=True))
        held = await held_ahead(storage, hot, items)
        hot_rate = items / await drain(storage, hot, items)
        print(f"  {kind:8} ordered, {held:,} items of a held key ahead "
              f"{hot_rate:9,.0f} items/s  ({hot_rate / plain_rate:.2f}x)")  # fmt: skip
    finally:
        await storage.close()


async def main(items: int, rounds: int, backends: list[str]) -> None:
    print(f"take with a lease + ack, {CONSUMERS} consumers, {KEYS} keys, "
          f"{items:,} items x {rounds} rounds per queue")  # fmt: skip
    for kind in backends:
        if kind == "postgres":
            schema = f"bench_{secrets.token_hex(4)}"
            try:
                await measure(
                    kind, StorageConfig("postgres", dsn=DSN, schema=schema), items, rounds
                )
            finally:
                connection = await asyncpg.connect(DSN)
                await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                await connection.close()
        elif kind == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "bench.db"
                await measure(
                    kind, StorageConfig("sqlite", path=path, sync="normal"), items, rounds
                )
        else:
            await measure(kind, StorageConfig("memory"), items, rounds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default="memory,sqlite,postgres")
    args = parser.parse_args()
    asyncio.run(main(args.items, args.rounds, args.backends.split(",")))
