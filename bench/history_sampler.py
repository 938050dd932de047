"""What the history's one background task costs: CPU per sample (a `/stats`-like
snapshot of every queue and `History.record`) with 1,000 queues, in-process, on the
memory and SQLite backends; as a share of one core at one sample a second. The put and
take path does no history work at all (compare `bench/cpu_per_item.py` in a checkout
without history).

    .venv/bin/python bench/history_sampler.py [--queues N] [--samples S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from disqueue.config import Limits
from disqueue.core import QueueNames, QueueService
from disqueue.core.history import History
from disqueue.models import NewItem
from disqueue.storage.base import Storage
from disqueue.storage.embedded.memory import MemoryStorage
from disqueue.storage.embedded.sqlite import SQLiteStorage


async def measure(storage: Storage, queues: int, samples: int) -> dict[str, float]:
    await storage.open()
    try:
        service = QueueService(storage, QueueNames("any"), Limits())
        for n in range(queues):
            name = await service.create_queue(f"queue-{n:04d}")
            if n % 10 == 0:
                await service.put(name, NewItem("v"))
        clock = [1_800_000_000.0]
        history = History(lambda: clock[0])
        snapshot = record = 0.0
        for _ in range(samples):
            clock[0] += 1.0
            started = time.process_time()
            stats = await service.stats()
            middle = time.process_time()
            history.record(stats)
            snapshot += middle - started
            record += time.process_time() - middle
        per_sample = (snapshot + record) / samples
        return {
            "snapshot_ms": round(snapshot / samples * 1000, 3),
            "record_ms": round(record / samples * 1000, 3),
            "core_share_at_1_per_s": round(per_sample, 4),
        }
    finally:
        await storage.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    out = {"queues": args.queues}
    out["memory"] = await measure(MemoryStorage(), args.queues, args.samples)
    with tempfile.TemporaryDirectory() as folder:
        sqlite = SQLiteStorage(Path(folder) / "q.db")
        out["sqlite"] = await measure(sqlite, args.queues, args.samples)
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
