"""Every storage backend, for the conformance suite (one suite, every backend)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from disqueue.config import Limits, StorageConfig
from disqueue.core import QueueNames, QueueService
from disqueue.errors import StorageFailure
from disqueue.storage import Storage, open_storage
from disqueue.storage.embedded.memory import MemoryPersistence
from disqueue.storage.embedded.persistence import Stored
from disqueue.storage.embedded.rules import RuleStorage
from tests import pg

BACKENDS = ["memory", "sqlite", "postgres"]


@contextmanager
def storage_config(kind: str, folder: Path) -> Iterator[StorageConfig]:
    """The configuration of a fresh, empty backend of `kind`."""
    if kind == "sqlite":
        yield StorageConfig(type="sqlite", path=folder / "data" / "disqueue.db")
    elif kind == "postgres":
        with pg.fresh_schema() as schema:
            yield StorageConfig(type="postgres", dsn=pg.DSN, schema=schema)
    else:
        yield StorageConfig(type="memory")


@pytest.fixture(params=BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """An open, empty backend of each kind."""
    with storage_config(request.param, tmp_path) as config:
        backend = open_storage(config)
        await backend.open()
        yield backend
        await backend.close()


class FakeClock:
    """The time every decision of the backend is made at; only the test moves it."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    """One open backend of a kind, which the test can restart on the same data."""

    kind: str
    config: StorageConfig
    clock: FakeClock
    storage: Storage | None = None
    service: QueueService = field(init=False)

    async def open(self) -> None:
        self.storage = open_storage(self.config, self.clock)
        await self.storage.open()
        self.service = QueueService(self.storage, QueueNames(), Limits())

    async def restart(self) -> None:
        assert self.storage is not None
        await self.storage.close()
        await self.open()

    async def close(self) -> None:
        if self.storage is not None:
            await self.storage.close()


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """A backend of each kind on a fake clock, through `QueueService`, which the test
    can restart (a property test's examples share it, each with queues of its own)."""
    with ExitStack() as stack:
        config = stack.enter_context(storage_config(request.param, tmp_path))
        opened = Backend(request.param, config, FakeClock())
        await opened.open()
        try:
            yield opened
        finally:
            await opened.close()


class FaultyDisk(MemoryPersistence):
    """The memory backend's persistence with faults on command: the methods named in
    `failing` raise `StorageFailure` (a disk that refuses writes), those in `stuck` wait
    for `go` and then fail (a write that hangs, then errs). The rules and everything
    above them are the real ones."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[str] = set()
        self.stuck: set[str] = set()
        self.go = asyncio.Event()

    async def _fault(self, name: str) -> None:
        if name in self.stuck:
            await self.go.wait()
            raise StorageFailure()
        if name in self.failing:
            raise StorageFailure()

    async def delete(self, positions: list[int]) -> None:
        await self._fault("delete")
        await super().delete(positions)

    async def requeue(
        self, pos: int, new_pos: int, visible_at: float | None, attempts: int | None = None
    ) -> None:
        await self._fault("requeue")
        await super().requeue(pos, new_pos, visible_at, attempts)

    async def touch(self, pos: int, until: float) -> None:
        await self._fault("touch")
        await super().touch(pos, until)

    async def lease(self, positions: list[int], until: float, token: str) -> list[Stored | None]:
        await self._fault("lease")
        return await super().lease(positions, until, token)


async def faulty(clock: FakeClock) -> tuple[FaultyDisk, RuleStorage, QueueService]:
    """An open memory backend on `clock` over a `FaultyDisk`, and its service."""
    disk = FaultyDisk()
    storage = RuleStorage(disk, "memory", clock)
    await storage.open()
    return disk, storage, QueueService(storage, QueueNames(), Limits())
