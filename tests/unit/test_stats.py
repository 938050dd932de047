"""The stats snapshot of the core (what /stats and /metrics read), the oldest item's age,
and the plain latency histogram storage fills."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from disqueue.config import Limits
from disqueue.core import QueueNames, QueueService
from disqueue.errors import StorageUnavailable
from disqueue.latency import BUCKETS, Latencies
from disqueue.models import NewItem
from disqueue.storage.embedded.memory import MemoryStorage
from disqueue.storage.embedded.sqlite import SQLiteStorage

from .test_service import Inbox

Q = "6f1c0b2e-0000-4000-8000-000000000001"


def test_latencies_count_per_bucket() -> None:
    """Each observation lands in the first bucket whose bound holds it; the sum adds up."""
    latencies = Latencies()
    for seconds in (0.00005, 0.0001, 0.003, 0.003, 100.0):
        latencies.observe(seconds)
    snapshot = latencies.snapshot()
    assert snapshot.bounds == BUCKETS
    assert snapshot.count == 5
    assert snapshot.counts[0] == 2  # both at or below 100 µs
    assert snapshot.counts[BUCKETS.index(0.005)] == 2
    assert snapshot.counts[-1] == 1  # above every bound
    assert snapshot.total == pytest.approx(100.00615)


async def test_stats_reads_counts_consumers_and_totals() -> None:
    """A snapshot has each queue's ready, delayed, in flight, waiting consumers and totals."""
    service = QueueService(MemoryStorage(), QueueNames(), Limits())
    await service.create_queue(Q)
    other = await service.create_queue()
    before = time.time()
    for value in ("a", "b", "c"):
        await service.put(Q, NewItem(value))
    await service.put_many(Q, [NewItem("later", delay=60)])
    await service.take(Q)
    await service.take(Q, lease=30)
    await service.want(Inbox(), "w", other, None)
    stats = await service.stats()
    assert stats.storage == "memory" and stats.commits is None
    assert [queue.name for queue in stats.queues] == [Q, other]
    mine, theirs = stats.queues
    assert (mine.ready, mine.delayed, mine.in_flight, mine.consumers) == (1, 1, 1, 0)
    assert (mine.put, mine.taken) == (4, 2)
    assert mine.oldest_age is not None and 0 <= mine.oldest_age <= time.time() - before + 1
    assert (theirs.ready, theirs.consumers, theirs.oldest_age) == (0, 1, None)


async def test_oldest_age_follows_the_head() -> None:
    """The oldest ready item's put time moves on as the head is taken: an item put more
    than a second after another is aged from its own put."""
    storage = MemoryStorage()
    service = QueueService(storage, QueueNames(), Limits())
    await service.create_queue(Q)
    await service.put(Q, NewItem("old"))
    first = (await storage.info(Q)).oldest
    await asyncio.sleep(1.1)  # the next put gets a mark of its own
    await service.put(Q, NewItem("new"))
    assert (await storage.info(Q)).oldest == first
    await service.take(Q)
    second = (await storage.info(Q)).oldest
    assert first is not None and second is not None and second >= first + 1.0
    await service.take(Q)
    assert (await storage.info(Q)).oldest is None


async def test_sqlite_times_its_commits(tmp_path: Path) -> None:
    """The SQLite backend counts one commit time per committed group; the core reports it."""
    storage = SQLiteStorage(tmp_path / "q.db")
    await storage.open()
    try:
        service = QueueService(storage, QueueNames(), Limits())
        await service.create_queue(Q)
        before = (await service.stats()).commits
        await service.put(Q, NewItem("v"))
        after = (await service.stats()).commits
    finally:
        await storage.close()
    assert before is not None and after is not None
    assert after.count > before.count
    assert after.total > 0


async def test_sqlite_check_fails_once_the_writer_stopped(tmp_path: Path) -> None:
    """SQLite is ready while its writer process commits; once it stopped, `check` (and so
    the core's `/health` check) raises StorageUnavailable (503)."""
    storage = SQLiteStorage(tmp_path / "q.db")
    await storage.open()
    service = QueueService(storage, QueueNames(), Limits())
    await service.check()
    await storage.close()
    with pytest.raises(StorageUnavailable) as caught:
        await service.check()
    assert caught.value.status == 503
    assert "writer has stopped" in caught.value.message
