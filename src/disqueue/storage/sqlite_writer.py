"""The writer thread of the SQLite backend: one connection, commits in groups.

The event loop queues operations (insert an item, delete one, ...); the thread
takes everything queued, runs it in one transaction and commits once, so all
the requests in flight share one fsync. Operations of a kind run together
(`executemany`, one `DELETE ... IN (...) RETURNING`), which keeps the thread's
Python work, and so its share of the GIL, small.

Grouping by kind keeps every ordering that matters: an item becomes visible to
takes only after its insert is committed, so an insert and a delete of the same
item never share a batch; a queue is dropped last, after any insert queued
before the drop. If the transaction fails, every operation in it fails with
`StorageFailure` and none of them took effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

from disqueue.errors import StorageFailure

log = logging.getLogger("disqueue.storage")

#: At most this many operations share one transaction.
MAX_BATCH = 4096
#: Positions per `DELETE ... WHERE pos IN (...)` statement.
_DELETE_CHUNK = 500

ItemRow = tuple[int, int, str, str | None, str]  # pos, queue id, item id, key, value
Taken = tuple[str, str | None, str]  # item id, key, value

# Kinds of operation, in the order a batch runs them.
PEEK, CREATE, INSERT, DELETE, COUNT, DROP, CALL = range(7)

_Task = tuple[int, Any, "asyncio.Future[Any]"]


class SQLiteWriter:
    """Owns the connection; every read and write of the database goes through it."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], name: str) -> None:
        self._connect = connect
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self.batches = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the database in the thread (blocking; raises what opening raised)."""
        self._loop = loop
        self._thread.start()
        self._started.wait()
        if self._start_error is not None:
            raise self._start_error

    async def stop(self) -> None:
        """Commit everything queued, then close the connection."""
        if self._thread.is_alive():
            self._tasks.put(None)
            await asyncio.to_thread(self._thread.join)

    def submit(self, kind: int, argument: Any) -> asyncio.Future[Any]:
        """Queue an operation; its future resolves once its transaction is committed."""
        assert self._loop is not None, "writer not started"
        future: asyncio.Future[Any] = self._loop.create_future()
        self._tasks.put((kind, argument, future))
        return future

    # The operations, typed.
    def peek(self, pos: int) -> asyncio.Future[Taken | None]:
        return self.submit(PEEK, pos)

    def create(self, name: str, created: str) -> asyncio.Future[int]:
        return self.submit(CREATE, (name, created))

    def insert(self, row: ItemRow, front: bool) -> asyncio.Future[None]:
        return self.submit(INSERT, (row, front))

    def delete(self, pos: int, queue_id: int) -> asyncio.Future[Taken | None]:
        return self.submit(DELETE, (pos, queue_id))

    def count(self, queue_id: int, put: int, taken: int) -> asyncio.Future[None]:
        return self.submit(COUNT, (queue_id, put, taken))

    def drop(self, queue_id: int) -> asyncio.Future[None]:
        return self.submit(DROP, queue_id)

    def call(self, function: Callable[[sqlite3.Connection], Any]) -> asyncio.Future[Any]:
        """Run any function of the connection inside a batch (start-up, maintenance)."""
        return self.submit(CALL, function)

    # The thread.
    def _run(self) -> None:
        try:
            connection = self._connect()
        except BaseException as exc:  # handed to start()
            self._start_error = exc
            self._started.set()
            return
        self._started.set()
        try:
            for batch in self._batches():
                self._commit(connection, batch)
        finally:
            connection.close()

    def _batches(self) -> Iterator[list[_Task]]:
        while True:
            first = self._tasks.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < MAX_BATCH:
                try:
                    task = self._tasks.get_nowait()
                except queue.Empty:
                    break
                if task is None:
                    stopping = True
                    break
                batch.append(task)
            yield batch
            if stopping:
                return

    def _commit(self, connection: sqlite3.Connection, batch: list[_Task]) -> None:
        try:
            connection.execute("BEGIN IMMEDIATE")
            results = _execute(connection, batch)
            connection.execute("COMMIT")
        except Exception as exc:
            log.error("storage failure, %d operations refused: %s", len(batch), exc)
            if connection.in_transaction:
                try:
                    connection.execute("ROLLBACK")
                except sqlite3.Error as rollback_error:
                    log.error("storage rollback failed: %s", rollback_error)
            failure = StorageFailure()
            failure.__cause__ = exc
            results = [(future, failure, True) for _, _, future in batch]
        self.batches += 1
        assert self._loop is not None
        # RuntimeError: the loop is closed, nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(_resolve, results)


def _execute(
    connection: sqlite3.Connection, batch: list[_Task]
) -> list[tuple[asyncio.Future[Any], Any, bool]]:
    """Run one batch inside the open transaction; (future, result, failed) for each task."""
    by_kind: list[list[_Task]] = [[] for _ in range(CALL + 1)]
    for task in batch:
        by_kind[task[0]].append(task)
    results: list[tuple[asyncio.Future[Any], Any, bool]] = []
    totals: dict[int, list[int]] = {}

    def add_total(queue_id: int, put: int, taken: int) -> None:
        entry = totals.setdefault(queue_id, [0, 0])
        entry[0] += put
        entry[1] += taken

    for _, function, future in by_kind[CALL]:
        results.append((future, function(connection), False))
    for _, pos, future in by_kind[PEEK]:
        row = connection.execute("SELECT id, key, value FROM items WHERE pos = ?", (pos,))
        found = row.fetchone()
        results.append((future, None if found is None else tuple(found), False))
    for _, (name, created), future in by_kind[CREATE]:
        cursor = connection.execute(
            "INSERT INTO queues (name, created) VALUES (?, ?)", (name, created)
        )
        results.append((future, cursor.lastrowid, False))
    inserts = by_kind[INSERT]
    if inserts:
        connection.executemany(
            "INSERT INTO items (pos, queue_id, id, key, value) VALUES (?, ?, ?, ?, ?)",
            [argument[0] for _, argument, _ in inserts],
        )
        for _, (row, front), future in inserts:
            add_total(row[1], 0 if front else 1, -1 if front else 0)
            results.append((future, None, False))
    deletes = by_kind[DELETE]
    if deletes:
        taken: dict[int, Taken] = {}
        for start in range(0, len(deletes), _DELETE_CHUNK):
            chunk = [argument[0] for _, argument, _ in deletes[start : start + _DELETE_CHUNK]]
            marks = ",".join("?" * len(chunk))
            for pos, item_id, key, value in connection.execute(
                f"DELETE FROM items WHERE pos IN ({marks}) RETURNING pos, id, key, value", chunk
            ):
                taken[pos] = (item_id, key, value)
        for _, (pos, queue_id), future in deletes:
            add_total(queue_id, 0, 1)
            results.append((future, taken.get(pos), False))
    for _, (queue_id, put, taken_count), future in by_kind[COUNT]:
        add_total(queue_id, put, taken_count)
        results.append((future, None, False))
    if totals:
        connection.executemany(
            "UPDATE queues SET put_total = put_total + ?, taken_total = taken_total + ? "
            "WHERE id = ?",
            [(put, taken_count, queue_id) for queue_id, (put, taken_count) in totals.items()],
        )
    for _, queue_id, future in by_kind[DROP]:
        connection.execute("DELETE FROM items WHERE queue_id = ?", (queue_id,))
        connection.execute("DELETE FROM queues WHERE id = ?", (queue_id,))
        results.append((future, None, False))
    return results


def _resolve(results: list[tuple[asyncio.Future[Any], Any, bool]]) -> None:
    for future, value, failed in results:
        if future.cancelled():
            continue
        if failed:
            future.set_exception(value)
        else:
            future.set_result(value)
