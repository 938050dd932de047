"""The SQLite backend: durable, embedded, the default.

What is where (docs/decisions/0002-sqlite-storage.md):
- on disk, in one SQLite file (WAL journal): queues and items;
- in memory: each queue's order and key index (`QueueIndex`), so choosing the item
  for a take or peek never reads the disk, and the queue's totals.
Every change goes through the writer (`sqlite_writer`: batches gathered on the event
loop, run by a process of their own, `sqlite_process`) and is committed, with
fsync unless `sync` is "normal", before its request is answered; a take's removal is
committed before the item is returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Literal

from disqueue.errors import ConfigError, StorageFailure, StorageUnavailable
from disqueue.models import QueueSettings
from disqueue.storage.common import Totals
from disqueue.storage.embedded import sqlite_process
from disqueue.storage.embedded.persistence import (
    LoadedDedup,
    LoadedItem,
    LoadedQueue,
    Restore,
    Row,
    Stored,
    T,
)
from disqueue.storage.embedded.rules import RuleStorage
from disqueue.storage.embedded.sqlite_process import (
    COUNT,
    CREATE,
    DELETE,
    DROP,
    FORGET,
    INSERT,
    LEASE,
    MOVE,
    PEEK,
    REQUEUE,
    TAKE,
    TOUCH,
)
from disqueue.storage.embedded.sqlite_writer import SQLiteWriter
from disqueue.storage.embedded.state import Clock

# A row of five values as a `Stored`, from C: its own constructor is a Python function,
# a frame for every item a take hands out.
_stored = tuple.__new__

Sync = Literal["full", "normal"]


class SQLitePersistence:
    """Queues and items in an SQLite file, every change through the writer process (the
    `Persistence` of the SQLite backend)."""

    def __init__(self, path: Path, sync: Sync = "full") -> None:
        self.path = path
        self._writer = SQLiteWriter(path, sync)
        #: Time per committed group (the optional `commits` of the Storage protocol).
        self.commits = self._writer.commits
        self._counting: set[asyncio.Future[None]] = set()
        self._totals: dict[int, Totals] = {}
        self._totals_flush = False
        #: The items in flight under a lease record (sqlite_009): position -> token, and
        #: how many of each record's items are still in flight; a record none of whose
        #: items is any more is deleted (`_ended`).
        self._in_flight: dict[int, str] = {}
        self._flying: dict[str, int] = {}

    # -- life cycle -------------------------------------------------------------

    async def open(self, restore: Restore[T]) -> T:
        """Start the writer (its process opens, migrates and folds the database), then
        rebuild memory from the file, read here before serving; items are read row by
        row, so a million of them never sit in a list."""
        loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._writer.start, loop)
        try:
            await self._writer.attach()
            return await asyncio.to_thread(self._load, restore)
        except BaseException:
            await self._writer.stop()  # (a failed start leaves no process behind)
            raise

    def _load(self, restore: Restore[T]) -> T:
        try:
            with contextlib.closing(sqlite3.connect(self.path, isolation_level=None)) as db:
                return restore(*_rows(db))
        except ConfigError:
            raise
        except Exception as exc:  # a row this server cannot read back: a damaged file
            raise ConfigError(f"storage {self.path}: cannot load: {exc}") from exc

    async def check(self) -> None:
        """Ready while the writer process runs and commits: a `SELECT 1` goes through it
        (a stuck disk shows as the core's health timeout). After a failed commit it is a
        write, fsync included, so health stays "not ready" until the disk takes writes."""
        if not self._writer.running:
            raise StorageUnavailable(f"storage {self.path}: the writer has stopped")
        try:
            await self._writer.call(
                sqlite_process.probe if self._writer.failing else sqlite_process.ping
            )
        except StorageFailure as exc:
            raise StorageUnavailable(f"storage {self.path}: {exc.__cause__}") from exc

    async def close(self) -> None:
        self._flush_totals()
        await self._writer.stop()  # (it commits what is queued, totals held back included)
        if self._counting:
            await asyncio.gather(*self._counting, return_exceptions=True)

    # -- changes ------------------------------------------------------------------

    async def create(self, name: str, created: datetime, settings: QueueSettings) -> int:
        fields = (*_settings_row(settings), settings.ordered)
        queue_id: int = await self._writer.submit(CREATE, (name, created.isoformat(), fields))
        return queue_id

    async def drop(self, queue_id: int, positions: list[int]) -> None:
        # Its items' lease records went with them, a take's the caller did not know of
        # yet (not in `positions`: reserved, not in flight) included.
        tokens = set(await self._writer.submit(DROP, queue_id))
        if tokens:
            for token in tokens:
                self._flying.pop(token, None)
            for pos in [pos for pos, token in self._in_flight.items() if token in tokens]:
                del self._in_flight[pos]

    async def insert(
        self, queue_id: int, rows: list[Row], dedup: list[tuple[str, str, float]]
    ) -> None:
        # (plain tuples: a NamedTuple crosses the pipe to the writer process through its
        # Python `__new__`, a call a row, and the process reads them by index anyway)
        await self._writer.submit(INSERT, (queue_id, list(map(tuple, rows)), dedup))

    async def take(self, positions: list[int]) -> list[Stored | None]:
        rows = await self._writer.submit(TAKE, positions)
        return [None if row is None else _stored(Stored, row) for row in rows]

    async def lease(self, positions: list[int], until: float, token: str) -> list[Stored | None]:
        rows = await self._writer.submit(LEASE, (positions, until, token))
        leased = [pos for pos, row in zip(positions, rows, strict=True) if row is not None]
        if leased:
            self._flying[token] = len(leased)
            self._in_flight.update(dict.fromkeys(leased, token))
        else:
            self._forget([token])
        return [None if row is None else _stored(Stored, row) for row in rows]

    async def peek(self, pos: int) -> Stored | None:
        row = await self._writer.submit(PEEK, pos)
        return None if row is None else Stored(*row)

    async def delete(self, positions: list[int]) -> None:
        if positions:
            await self._writer.submit(DELETE, positions)
            self._ended(positions)

    async def requeue(
        self, pos: int, new_pos: int, visible_at: float | None, attempts: int | None = None
    ) -> None:
        await self._writer.submit(REQUEUE, (pos, new_pos, visible_at, attempts))
        self._ended([pos])

    async def touch(self, pos: int, until: float) -> None:
        await self._writer.submit(TOUCH, (pos, until))

    async def move(self, pos: int, queue_id: int, new_pos: int, origin: str, attempts: int) -> None:
        await self._writer.submit(MOVE, (pos, queue_id, new_pos, origin, attempts))
        self._ended([pos])

    def _ended(self, positions: list[int]) -> None:
        """Items out of flight (acked, given back, dead-lettered, dropped), their change
        committed: the lease records left with none of their items in flight go."""
        in_flight = self._in_flight
        if not in_flight:
            return
        flying, done = self._flying, []
        for pos in positions:
            token = in_flight.pop(pos, None)
            if token is not None:
                left = flying[token] - 1
                if left:
                    flying[token] = left
                else:
                    del flying[token]
                    done.append(token)
        if done:
            self._forget(done)

    def _forget(self, tokens: list[str]) -> None:
        # Never waited for: a record that outlives its items (a crash first) names
        # nothing at the next start (sqlite_009).
        future = self._writer.submit(FORGET, tokens)
        self._counting.add(future)
        future.add_done_callback(self._counted)

    async def redrive(self, moves: list[tuple[int, int, int]]) -> None:
        await self._writer.call(sqlite_process.redrive, moves)

    async def change(self, queue_id: int, settings: QueueSettings) -> None:
        await self._writer.call(sqlite_process.change, queue_id, _settings_row(settings))

    async def pause(self, queue_id: int, paused: bool) -> None:
        await self._writer.call(sqlite_process.pause, queue_id, paused)

    def count(self, queue_id: int, totals: Totals) -> None:
        # Totals are statistics: gathered, written with the next batch, never waited for.
        pending = self._totals.get(queue_id)
        self._totals[queue_id] = totals if pending is None else pending.plus(totals)
        if not self._totals_flush:
            self._totals_flush = True
            asyncio.get_running_loop().call_soon(self._flush_totals)

    def _flush_totals(self) -> None:
        self._totals_flush = False
        for queue_id, totals in self._totals.items():
            # (a plain tuple: a NamedTuple pickles through its Python `__getnewargs__`)
            future = self._writer.submit(COUNT, (queue_id, tuple(totals)))
            self._counting.add(future)
            future.add_done_callback(self._counted)
        self._totals.clear()

    def _counted(self, future: asyncio.Future[None]) -> None:
        self._counting.discard(future)
        with contextlib.suppress(asyncio.CancelledError, StorageFailure):
            future.result()


class SQLiteStorage(RuleStorage):
    """The rules over `SQLitePersistence`: the durable default."""

    def __init__(self, path: Path, sync: Sync = "full", clock: Clock = time.time) -> None:
        self.sqlite = SQLitePersistence(path, sync)
        super().__init__(self.sqlite, "sqlite", clock)
        self.path = path


def _settings_row(s: QueueSettings) -> tuple[object, ...]:
    """A queue's settings as its row keeps them (after `name` and `created`)."""
    delays = None if s.retry_delays is None else ",".join(map(repr, s.retry_delays))
    return s.lease, s.max_attempts, s.dead_letter, s.max_items, delays, s.delay, s.ttl, s.extras


def _delays(text: str | None) -> tuple[float, ...] | None:
    return None if text is None else tuple(map(float, text.split(",")))


def _rows(
    connection: sqlite3.Connection,
) -> tuple[list[LoadedQueue], Iterator[LoadedItem], list[LoadedDedup]]:
    """The queues, an iterator over the items (by position), and the dedup window."""
    queues = [
        LoadedQueue(
            queue_id, name, datetime.fromisoformat(created),
            QueueSettings(lease, max_attempts, dead_letter, max_items, _delays(delays), delay,
                          ttl, bool(ordered), extras),
            Totals(put, taken, acked, expired, dead), bool(paused),
        )
        for queue_id, name, created, lease, max_attempts, dead_letter, max_items, put, taken,
        acked, expired, dead, delays, delay, ttl, paused, ordered, extras in connection.execute(
            "SELECT id, name, created, lease, max_attempts, dead_letter, max_items, put_total, "
            "taken_total, acked_total, expired_total, dead_lettered_total, retry_delays, "
            "default_delay, default_ttl, paused, ordered, extras FROM queues ORDER BY id"
        )
    ]  # fmt: skip
    items = map(LoadedItem._make, connection.execute(
        "SELECT pos, queue_id, id, key, attempts, lease_until, visible_at, ttl_at, receipt, "
        "dead_letter_from, priority FROM items ORDER BY pos"
    ))  # fmt: skip
    dedup = connection.execute("SELECT queue_id, dedup_id, item_id, until FROM dedup")
    return queues, items, [LoadedDedup._make(row) for row in dedup]
