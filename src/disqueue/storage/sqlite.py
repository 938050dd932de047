"""The SQLite backend: durable, embedded, the default.

What is where (docs/decisions/0002-sqlite-storage.md):
- on disk, in one SQLite file (WAL journal): queues and items;
- in memory: each queue's order and key index (`QueueIndex`), so choosing the item
  for a take or peek never reads the disk, and the queue's totals.
Every change goes through the writer thread (`storage.sqlite_writer`) and is committed,
with fsync unless `sync` is "normal", before its request is answered; a take's
removal is committed before the item is returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from disqueue.errors import ConfigError, QueueNotFound, StorageFailure
from disqueue.models import Item, QueueInfo, match_key
from disqueue.storage.index import QueueIndex
from disqueue.storage.sqlite_writer import SQLiteWriter

log = logging.getLogger("disqueue.storage")

Sync = Literal["full", "normal"]


def migrations() -> list[str]:
    """The schema's migrations, in order: migration N brings the schema to version N."""
    folder = resources.files("disqueue.storage") / "sql"
    names = sorted(p.name for p in folder.iterdir() if p.name.startswith("sqlite_"))
    return [(folder / name).read_text(encoding="utf-8") for name in names]


@dataclass(slots=True)
class _Queue:
    id: int
    created: datetime
    index: QueueIndex
    put: int = 0
    taken: int = 0
    deleted: bool = False


class SQLiteStorage:
    """Queues in an SQLite file, with their order kept in memory."""

    kind = "sqlite"

    def __init__(self, path: Path, sync: Sync = "full") -> None:
        self.path = path
        self.sync = sync
        self._queues: dict[str, _Queue] = {}
        self._back = itertools.count(1)
        self._front = itertools.count(-1, -1)
        self._writer = SQLiteWriter(self._connect, name=f"disqueue-writer {path.name}")
        self._pending: set[asyncio.Future[None]] = set()
        # Creates and deletes on their way to the disk, by queue name.
        self._changing: dict[str, asyncio.Future[Any]] = {}

    # -- life cycle -------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        """Open (creating if needed) and migrate the database; runs in the writer thread."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"storage {self.path}: cannot open: {exc}") from exc
        try:
            connection.execute("PRAGMA journal_mode=WAL").fetchone()
            connection.execute(f"PRAGMA synchronous={self.sync.upper()}")
            self._migrate(connection)
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise ConfigError(f"storage {self.path}: {exc}") from exc
        return connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        steps = migrations()
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        if version > len(steps):
            raise ConfigError(
                f"storage {self.path}: schema version {version} is newer than this "
                f"server's ({len(steps)}); upgrade disqueue"
            )
        for number in range(version + 1, len(steps) + 1):
            log.info("storage %s: migrating schema to version %d", self.path, number)
            connection.executescript(
                f"BEGIN IMMEDIATE;\n{steps[number - 1]}\nPRAGMA user_version={number};\nCOMMIT;"
            )

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._writer.start, loop)
        try:
            await self._writer.call(self._load)
        except StorageFailure as exc:
            raise ConfigError(f"storage {self.path}: cannot load: {exc.__cause__}") from exc

    def _load(self, connection: sqlite3.Connection) -> None:
        """Rebuild the in-memory queues from the file (writer thread, before serving)."""
        queues: dict[int, _Queue] = {}
        for qid, name, created, put, taken in connection.execute(
            "SELECT id, name, created, put_total, taken_total FROM queues ORDER BY id"
        ):
            queue = _Queue(qid, datetime.fromisoformat(created), QueueIndex(), put, taken)
            self._queues[name] = queues[qid] = queue
        low = high = 0
        rows = connection.execute("SELECT pos, queue_id, key FROM items ORDER BY pos")
        for pos, qid, key in rows:
            queues[qid].index.add(pos, None if key is None else key.lower())
            low, high = min(low, pos), max(high, pos)
        self._back = itertools.count(high + 1)
        self._front = itertools.count(low - 1, -1)

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self._writer.stop()

    # -- queues -----------------------------------------------------------------

    def _queue(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None or queue.deleted:
            raise QueueNotFound()
        return queue

    async def _settled(self, name: str) -> None:
        """Wait until no create or delete of `name` is on its way to the disk."""
        while (change := self._changing.get(name)) is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(change)

    async def create_queue(self, name: str) -> bool:
        await self._settled(name)
        if await self.exists(name):
            return False
        created = QueueInfo.now()
        change = self._changing[name] = self._writer.create(name, created.isoformat())
        try:
            qid = await change
        finally:
            del self._changing[name]
        self._queues[name] = _Queue(qid, created, QueueIndex())
        return True

    async def queues(self) -> list[str]:
        return [name for name, queue in self._queues.items() if not queue.deleted]

    async def queue_count(self) -> int:
        return sum(not queue.deleted for queue in self._queues.values())

    async def exists(self, name: str) -> bool:
        queue = self._queues.get(name)
        return queue is not None and not queue.deleted

    async def info(self, name: str) -> QueueInfo:
        queue = self._queue(name)
        return QueueInfo(name, queue.created, len(queue.index), put=queue.put, taken=queue.taken)

    async def delete_queue(self, name: str) -> None:
        await self._settled(name)
        queue = self._queue(name)
        queue.deleted = True  # later puts and takes see a missing queue at once
        change = self._changing[name] = self._writer.drop(queue.id)
        try:
            await change
        except BaseException:
            queue.deleted = False
            raise
        finally:
            del self._changing[name]
        del self._queues[name]

    # -- items ------------------------------------------------------------------

    async def _insert(self, name: str, item: Item, front: bool) -> None:
        queue = self._queue(name)
        pos = next(self._front) if front else next(self._back)
        await self._writer.insert((pos, queue.id, item.id, item.key, item.value), front)
        queue.index.add(pos, match_key(item.key), front=front)
        if front:
            queue.taken -= 1
        else:
            queue.put += 1

    async def put(self, name: str, item: Item) -> None:
        await self._insert(name, item, front=False)

    async def put_front(self, name: str, item: Item) -> None:
        await self._insert(name, item, front=True)

    async def take(self, name: str, key: str | None) -> Item | None:
        queue = self._queue(name)
        pos = queue.index.head(match_key(key))
        if pos is None:
            return None
        match = queue.index.remove(pos)  # no other take can choose it from now on
        try:
            row = await asyncio.shield(self._writer.delete(pos, queue.id))
        except StorageFailure:
            queue.index.add(pos, match, front=True)  # nothing changed on disk
            raise
        if row is None:  # cannot happen: the index and the file disagree
            raise StorageFailure(f"storage failure: item at {pos} is missing")
        queue.taken += 1
        return Item(value=row[2], key=row[1], id=row[0])

    async def peek(self, name: str, key: str | None) -> Item | None:
        queue = self._queue(name)
        pos = queue.index.head(match_key(key))
        if pos is None:
            return None
        row = await self._writer.peek(pos)
        if row is None:  # taken while we looked: look again
            return await self.peek(name, key)
        return Item(value=row[2], key=row[1], id=row[0])

    async def count_handoff(self, name: str) -> None:
        queue = self._queue(name)
        queue.put += 1
        queue.taken += 1
        # Totals are statistics: not worth a wait for the disk on the hand-off path.
        future = self._writer.count(queue.id, 1, 1)
        self._pending.add(future)
        future.add_done_callback(self._counted)

    def _counted(self, future: asyncio.Future[None]) -> None:
        self._pending.discard(future)
        with contextlib.suppress(asyncio.CancelledError, StorageFailure):
            future.result()
