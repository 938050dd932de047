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
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from disqueue.errors import StorageFailure
from disqueue.latency import Latencies
from disqueue.storage.embedded.persistence import NO_OPTIONS

log = logging.getLogger("disqueue.storage")

#: At most this many operations share one transaction.
MAX_BATCH = 4096
#: At most this long (seconds) totals wait for a batch that writes something else.
TOTALS_DELAY = 1.0
#: Positions per `... WHERE pos IN (...)` statement.
_CHUNK = 500

Taken = tuple[str, str | None, str, int, str | None]  # item id, key, value, attempts, headers

# Kinds of operation, in the order a batch runs them.
CALL, PEEK, CREATE, INSERT, LEASE, TAKE, DELETE, REQUEUE, TOUCH, MOVE, FORGET, COUNT, DROP = range(
    13
)

_Task = tuple[int, Any, "asyncio.Future[Any]"]

#: Kinds of operation that do not make a transaction of their own (`_batches`).
_DEFERRED = (COUNT, FORGET)

#: Every this many batches, forget de-duplication ids whose window has closed.
_DEDUP_SWEEP = 1000


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
        #: Whether the last transaction failed (a bad disk): health then probes with a write.
        self.failing = False
        #: How long each committed group took, BEGIN to COMMIT (for `/metrics`).
        self.commits = Latencies()

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

    @property
    def running(self) -> bool:
        """Whether the thread is there to run operations."""
        return self._thread.is_alive()

    def submit(self, kind: int, argument: Any) -> asyncio.Future[Any]:
        """Queue an operation; its future resolves once its transaction is committed."""
        assert self._loop is not None, "writer not started"
        future: asyncio.Future[Any] = self._loop.create_future()
        self._tasks.put((kind, argument, future))
        return future

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
        # Totals alone (statistics, never waited for) do not make a transaction of their
        # own: they wait for the next batch that writes something else, or TOTALS_DELAY.
        # So do lease records to forget (cleanup: one left over names nothing): else an
        # ack's commit was followed by a second one, its fsync in the way of the next put.
        # A commit (an fsync) for them alone would hold up the put or ack behind it.
        held: list[_Task] = []
        while True:
            try:
                first = self._tasks.get(timeout=TOTALS_DELAY) if held else self._tasks.get()
            except queue.Empty:
                batch, held = held, []
                yield batch
                continue
            if first is None:
                if held:
                    yield held
                return
            batch, held = [*held, first], []
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
            if not stopping and all(task[0] in _DEFERRED for task in batch):
                held = batch
                continue
            yield batch
            if stopping:
                return

    def _commit(self, connection: sqlite3.Connection, batch: list[_Task]) -> None:
        started = time.perf_counter()
        try:
            connection.execute("BEGIN IMMEDIATE")
            results = _execute(connection, batch, self.batches)
            connection.execute("COMMIT")
            self.commits.observe(time.perf_counter() - started)
            self.failing = False
        except Exception as exc:
            self.failing = True
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


def fold_leases(connection: sqlite3.Connection) -> int:
    """At start, before the items are loaded: every lease record becomes what its items'
    rows say (one more attempt, in flight until its deadline, or until the one a touch
    wrote, under its token), and the records are deleted, in one transaction. The
    number of items put back in flight."""
    records = connection.execute("SELECT token, until, positions FROM leases").fetchall()
    if not records:
        return 0
    folded = 0
    connection.execute("BEGIN IMMEDIATE")
    try:
        for token, until, positions in records:
            try:
                named = orjson.loads(positions)
            except orjson.JSONDecodeError as exc:  # refused at start, as a damaged file is
                raise sqlite3.DatabaseError(f"lease record {token!r} is damaged") from exc
            cursor = connection.executemany(
                "UPDATE items SET attempts = attempts + 1, lease_until = coalesce(lease_until, ?), "
                "receipt = ? WHERE pos = ?",
                [(until, token, pos) for pos in named],
            )
            folded += cursor.rowcount
        connection.execute("DELETE FROM leases")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return folded


def _chunks(values: list[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _returning(
    connection: sqlite3.Connection, sql: str, positions: list[int], *before: Any
) -> dict[int, Taken]:
    """Run `sql` (with `{marks}` for the positions) chunk by chunk; rows by position."""
    found: dict[int, Taken] = {}
    for chunk in _chunks(positions):
        marks = ",".join("?" * len(chunk))
        rows = connection.execute(sql.format(marks=marks), [*before, *chunk])
        found.update({row[0]: row[1:] for row in rows})  # (no list per row, as `pos, *row`)
    return found


def _delete_all(connection: sqlite3.Connection, sql: str, tasks: list[_Task]) -> None:
    """Run `sql` (with `{marks}`) over the keys of every task, chunk by chunk."""
    every = [key for _, keys, _ in tasks for key in keys]
    for chunk in _chunks(every):
        connection.execute(sql.format(marks=",".join("?" * len(chunk))), chunk)


def _execute(
    connection: sqlite3.Connection, batch: list[_Task], number: int
) -> list[tuple[asyncio.Future[Any], Any, bool]]:
    """Run one batch inside the open transaction; (future, result, failed) for each task."""
    by_kind: list[list[_Task]] = [[] for _ in range(DROP + 1)]
    for task in batch:
        by_kind[task[0]].append(task)
    results: list[tuple[asyncio.Future[Any], Any, bool]] = []
    done = results.append

    for _, function, future in by_kind[CALL]:
        done((future, function(connection), False))
    for _, pos, future in by_kind[PEEK]:
        row = connection.execute(
            "SELECT id, key, value, attempts, headers FROM items WHERE pos = ?", (pos,)
        ).fetchone()
        done((future, None if row is None else tuple(row), False))
    for _, (name, created, settings), future in by_kind[CREATE]:
        cursor = connection.execute(
            "INSERT INTO queues (name, created, lease, max_attempts, dead_letter, max_items, "
            "retry_delays, default_delay, default_ttl, extras, ordered) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, created, *settings),
        )
        done((future, cursor.lastrowid, False))
    if by_kind[INSERT]:
        _insert(connection, by_kind[INSERT])
        results += [(future, None, False) for _, _, future in by_kind[INSERT]]
    if by_kind[LEASE]:
        # One record a take (sqlite_009): the items' rows are read, not rewritten.
        records = []
        for _, (positions, until, token), future in by_kind[LEASE]:
            leased = _returning(
                connection,
                "SELECT pos, id, key, value, attempts + 1, headers FROM items "
                "WHERE pos IN ({marks})",
                positions,
            )
            records.append((token, until, orjson.dumps(positions).decode()))
            done((future, [leased.get(pos) for pos in positions], False))
        connection.executemany("INSERT INTO leases VALUES (?, ?, ?)", records)
    if by_kind[TAKE]:
        every = [pos for _, positions, _ in by_kind[TAKE] for pos in positions]
        taken = _returning(
            connection,
            "DELETE FROM items WHERE pos IN ({marks}) "
            "RETURNING pos, id, key, value, attempts, headers",
            every,
        )
        for _, positions, future in by_kind[TAKE]:
            done((future, [taken.get(pos) for pos in positions], False))
    if by_kind[DELETE]:
        _delete_all(connection, "DELETE FROM items WHERE pos IN ({marks})", by_kind[DELETE])
        results += [(future, None, False) for _, _, future in by_kind[DELETE]]
    for _, (pos, new_pos, visible_at, attempts), future in by_kind[REQUEUE]:
        connection.execute(
            "UPDATE items SET pos = ?, lease_until = NULL, visible_at = ?, "
            "attempts = coalesce(?, attempts) WHERE pos = ?",
            (new_pos, visible_at, attempts, pos),
        )
        done((future, None, False))
    if by_kind[TOUCH]:
        connection.executemany(
            "UPDATE items SET lease_until = ? WHERE pos = ?",
            [(until, pos) for _, (pos, until), _ in by_kind[TOUCH]],
        )
        results += [(future, None, False) for _, _, future in by_kind[TOUCH]]
    for _, (pos, queue_id, new_pos, origin, attempts), future in by_kind[MOVE]:
        connection.execute(
            "UPDATE items SET queue_id = ?, pos = ?, lease_until = NULL, visible_at = NULL, "
            "ttl_at = NULL, dead_letter_from = ?, attempts = ? WHERE pos = ?",
            (queue_id, new_pos, origin, attempts, pos),
        )
        done((future, None, False))
    if by_kind[FORGET]:  # lease records none of whose items is in flight any more
        _delete_all(connection, "DELETE FROM leases WHERE token IN ({marks})", by_kind[FORGET])
        results += [(future, None, False) for _, _, future in by_kind[FORGET]]
    if by_kind[COUNT]:
        totals: dict[int, list[int]] = {}
        for _, (queue_id, changes), future in by_kind[COUNT]:
            entry = totals.setdefault(queue_id, [0, 0, 0, 0, 0])
            for i, change in enumerate(changes):
                entry[i] += change
            done((future, None, False))
        connection.executemany(
            "UPDATE queues SET put_total = put_total + ?, taken_total = taken_total + ?, "
            "acked_total = acked_total + ?, expired_total = expired_total + ?, "
            "dead_lettered_total = dead_lettered_total + ? WHERE id = ?",
            [(*changes, queue_id) for queue_id, changes in totals.items()],
        )
    for _, queue_id, future in by_kind[DROP]:
        # The lease records of its items go with them (sqlite_009), those of a take the
        # drop's caller did not know of yet included: the tokens.
        dropped = connection.execute(
            "DELETE FROM leases WHERE token IN (SELECT token FROM leases, "
            "json_each(leases.positions) JOIN items ON items.pos = json_each.value "
            "WHERE items.queue_id = ?) RETURNING token",
            (queue_id,),
        ).fetchall()
        connection.execute("DELETE FROM items WHERE queue_id = ?", (queue_id,))
        connection.execute("DELETE FROM dedup WHERE queue_id = ?", (queue_id,))
        connection.execute("DELETE FROM queues WHERE id = ?", (queue_id,))
        done((future, [token for (token,) in dropped], False))
    if number % _DEDUP_SWEEP == 0:
        connection.execute("DELETE FROM dedup WHERE until < ?", (time.time(),))
    return results


#: Every column of a stored item, in the order of `Row` (with `queue_id` second).
_ALL = ("pos", "queue_id", "id", "key", "value", "attempts", "visible_at", "ttl_at", "headers",
        "priority", "lease_until", "receipt")  # fmt: skip
# A plain item (no options: the other columns keep their defaults) binds only what it
# has: Python's sqlite3 binds a None through its adapter lookup, several times the cost
# of a string, and a batch put of plain items spent most of its writer time there.
_PLAIN = ("pos", "queue_id", "id", "value")
_KEYED = ("pos", "queue_id", "id", "key", "value")
#: Parameters of one multi-row INSERT at most (SQLite allows 32766).
_PARAMETERS = 1000


def _insert(connection: sqlite3.Connection, tasks: list[_Task]) -> None:
    """Store the rows of every INSERT of the batch, and their dedup claims."""
    plain: list[Any] = []
    keyed: list[Any] = []
    full: list[Any] = []
    dedup: list[tuple[Any, ...]] = []
    for _, (queue_id, rows, dedups), _ in tasks:
        for row in rows:
            if row[4:] != NO_OPTIONS:
                full += (row[0], queue_id, *row[1:])
            elif row[2] is None:
                plain += (row[0], queue_id, row[1], row[3])
            else:
                keyed += (row[0], queue_id, row[1], row[2], row[3])
        dedup += [(queue_id, *d) for d in dedups]
    for columns, values in ((_PLAIN, plain), (_KEYED, keyed), (_ALL, full)):
        _insert_rows(connection, columns, values)
    if dedup:
        connection.executemany("INSERT OR REPLACE INTO dedup VALUES (?, ?, ?, ?)", dedup)


def _insert_rows(
    connection: sqlite3.Connection, columns: tuple[str, ...], values: list[Any]
) -> None:
    """INSERT rows given as one flat list of `columns` values, many rows a statement:
    SQLite runs a statement per row of `executemany`, and the connection lets go of the
    GIL (and waits to get it back from the event loop) once a statement."""
    width = len(columns)
    step = _PARAMETERS // width * width
    head = f"INSERT INTO items ({', '.join(columns)}) VALUES "
    mark = f"({', '.join('?' * width)})"
    for start in range(0, len(values), step):
        chunk = values[start : start + step]
        connection.execute(head + ", ".join([mark] * (len(chunk) // width)), chunk)


def _resolve(results: list[tuple[asyncio.Future[Any], Any, bool]]) -> None:
    for future, value, failed in results:
        if future.cancelled():
            continue
        if failed:
            future.set_exception(value)
        else:
            future.set_result(value)
