"""Takes over ten priorities against plain takes on PostgreSQL, through the backend.

Two queues of 100,000 items under 10,000 keys: one with every item at priority 0, one
with item i at priority (i // keys) % 10. We time one-item takes from each (unkeyed,
then by random existing keys), alternating blocks so that a busy moment of the machine
falls on both. The take's `ORDER BY priority DESC, pos` is served by the ready indexes
(`postgres_005_priorities.sql`): expect about the same cost.

    .venv/bin/python bench/postgres_priorities.py [--items N] [--keys K] [--takes T]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import time

import asyncpg

from disqueue.models import NewItem
from disqueue.storage.postgres.storage import PostgresStorage

DSN = os.environ.get("DISQUEUE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
PLAIN, PRIORITIES = "6f1c0b2e-0000-4000-8000-00000000a000", "6f1c0b2e-0000-4000-8000-00000000a009"


async def fill(storage: PostgresStorage, queue: str, items: int, keys: int, levels: int) -> None:
    await storage.create_queue(queue)
    for start in range(0, items, 1000):
        await storage.put_many(queue, [
            NewItem("x" * 100, f"key-{i % keys}", priority=(i // keys) % levels)
            for i in range(start, min(start + 1000, items))
        ])  # fmt: skip


async def timed(storage: PostgresStorage, queue: str, keys: list[str | None]) -> float:
    start = time.perf_counter()
    for key in keys:
        if await storage.take(queue, key) is None:
            raise SystemExit(f"no item for key {key!r}")
    return time.perf_counter() - start


async def main(items: int, keys: int, takes: int) -> None:
    schema = f"bench_{secrets.token_hex(4)}"
    storage = PostgresStorage(DSN, schema)
    await storage.open()
    try:
        await fill(storage, PLAIN, items, keys, 1)
        await fill(storage, PRIORITIES, items, keys, 10)
        pool = [f"key-{k}" for k in range(keys) for _ in range(items // keys // 2)]
        random.Random(1).shuffle(pool)
        spent = {(q, keyed): 0.0 for q in (PLAIN, PRIORITIES) for keyed in (False, True)}
        block = 250
        for start in range(0, takes, block):
            keyed_block: list[str | None] = list(pool[start : start + block])
            for queue in (PLAIN, PRIORITIES):
                spent[queue, False] += await timed(storage, queue, [None] * block)
                spent[queue, True] += await timed(storage, queue, keyed_block)
        print(f"postgres take, {items:,} items under {keys:,} keys, {takes:,} takes each")
        for keyed in (False, True):
            plain, prio = spent[PLAIN, keyed] / takes, spent[PRIORITIES, keyed] / takes
            kind = "keyed take" if keyed else "take"
            print(f"  plain {kind:10}          {plain * 1e6:8.1f} us/take")
            print(f"  10 priorities, {kind:10} {prio * 1e6:8.1f} us/take  ({prio / plain:.2f}x)")
    finally:
        await storage.close()
        connection = await asyncpg.connect(DSN)
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--takes", type=int, default=3_000)
    args = parser.parse_args()
    asyncio.run(main(args.items, args.keys, args.takes))
