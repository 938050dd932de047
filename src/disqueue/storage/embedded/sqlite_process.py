"""The writer process of the SQLite backend: it owns the database connection and runs
the batches the server's event loop (`sqlite_writer`) sends it, one transaction each.

Why a process (docs/decisions/0018-sqlite-writer-process.md): a connection lets go of
the GIL around every SQLite step and must take it back from the event loop after each;
run in the server's process, a commit of the README's worker spent three times its CPU
waiting for the GIL. Here the SQLite work shares no GIL with the loop: the server sends
a batch and gets its results back in one message each way.

The exchange, over a socket pair (each message a 4-byte length, then a pickle):
- server → here: `(path, sync)`; here → server: `(True, notes)` once the database is
  open, migrated and its lease records folded, or `(False, error)` (a `ConfigError`);
- then for each batch `(number, [(kind, argument), ...])`, answered by `(True,
  results, seconds, notes)` (a result per operation, in order; BEGIN to COMMIT time)
  or `(False, error, None, notes)` when the transaction failed and was rolled back;
- `None`, or the socket closing (the server is gone, killed included): close and exit.
`notes` are lines for the server's log (this process has no log of its own).

The module is also what runs the SQL of each kind of operation (`execute`), grouped
by kind as `sqlite_writer` explains.
"""

from __future__ import annotations

import pickle
import signal
import socket
import sqlite3
import struct
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from disqueue.errors import ConfigError
from disqueue.storage.base import pending_migrations
from disqueue.storage.embedded.persistence import NO_OPTIONS
from disqueue.storage.folders import create_folders, sync_folder

# Kinds of operation, in the order a batch runs them.
CALL, PEEK, CREATE, INSERT, LEASE, TAKE, DELETE, REQUEUE, TOUCH, MOVE, FORGET, COUNT, DROP = range(
    13
)
#: An operation as it crosses the socket.
Operation = tuple[int, Any]
#: Every this many batches, forget de-duplication ids whose window has closed.
_DEDUP_SWEEP = 1000
#: Positions per `... WHERE pos IN (...)` statement.
_CHUNK = 500

Taken = tuple[str, str | None, str, int, str | None]  # item id, key, value, attempts, headers


def main() -> None:
    """`python -m disqueue.storage.embedded.sqlite_process FD`: serve the socket at FD."""
    # The server decides when this process ends (its socket): a Ctrl-C or a SIGTERM sent
    # to the whole process group must not end it before the server's last commit.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with socket.socket(fileno=int(sys.argv[1])) as pipe:
        serve(pipe)


def serve(pipe: socket.socket) -> None:
    """Open the database the server names, then run its batches until it stops."""
    with pipe.makefile("rb") as incoming:
        path, sync = receive_message(incoming)
        notes: list[str] = []
        try:
            connection = connect(Path(path), sync, notes)
        except ConfigError as exc:
            send_message(pipe, (False, exc))
            return
        except Exception as exc:  # (any other fault of opening: still the server's error)
            send_message(pipe, (False, ConfigError(f"storage {path}: cannot open: {exc!r}")))
            return
        try:
            send_message(pipe, (True, notes))
            while True:
                try:
                    request = receive_message(incoming)
                except (EOFError, OSError):  # the server is gone
                    return
                if request is None:
                    return
                answer = commit(connection, *request)
                try:
                    send_message(pipe, answer)
                except OSError:  # the server is gone (killed mid-commit): nobody to tell
                    return
        finally:
            connection.close()


# -- messages: a 4-byte length, then the pickle -------------------------------------

HEADER = struct.Struct("!I")


def encode(message: tuple[Any, ...] | None) -> bytes:
    """A message as it goes on the socket (an error that does not pickle: its text)."""
    try:
        data = pickle.dumps(message)
    except Exception:
        assert message is not None
        ok, value, *rest = message
        data = pickle.dumps((ok, RuntimeError(repr(value)), *rest))
    return HEADER.pack(len(data)) + data


def send_message(pipe: socket.socket, message: tuple[Any, ...] | None) -> None:
    pipe.sendall(encode(message))


def receive_message(incoming: BinaryIO) -> Any:
    """The next message (blocking); EOFError when the other end closed."""
    header = incoming.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError
    (size,) = HEADER.unpack(header)
    data = incoming.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def commit(
    connection: sqlite3.Connection, number: int, operations: list[Operation]
) -> tuple[bool, Any, float | None, list[str]]:
    """Run one batch in one transaction: `(True, results, seconds, notes)`, or, rolled
    back, `(False, error, None, notes)`."""
    notes: list[str] = []
    started = time.perf_counter()
    try:
        connection.execute("BEGIN IMMEDIATE")
        results = execute(connection, operations, number)
        connection.execute("COMMIT")
        return True, results, time.perf_counter() - started, notes
    except Exception as exc:
        if connection.in_transaction:
            try:
                connection.execute("ROLLBACK")
            except sqlite3.Error as rollback_error:
                notes.append(f"storage rollback failed: {rollback_error}")
        return False, exc, None, notes


# -- opening ------------------------------------------------------------------------


def connect(path: Path, sync: str, notes: list[str]) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the database, and fold its lease records;
    what is worth logging goes to `notes`."""
    try:
        create_folders(path.parent)
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"storage {path}: cannot open: {exc}") from exc
    try:
        connection.execute("PRAGMA journal_mode=WAL").fetchone()
        connection.execute(f"PRAGMA synchronous={sync.upper()}")
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        for number, step in pending_migrations("sqlite", version, f"storage {path}"):
            notes.append(f"storage {path}: migrating schema to version {number}")
            connection.executescript(
                f"BEGIN IMMEDIATE;\n{step}\nPRAGMA user_version={number};\nCOMMIT;"
            )
        folded = fold_leases(connection)
        if folded:
            notes.append(f"storage {path}: {folded} items in flight at the last stop")
        sync_folder(path.parent)  # the database's name (and its WAL's) is durable
    except (OSError, sqlite3.DatabaseError) as exc:
        connection.close()
        raise ConfigError(f"storage {path}: {exc}") from exc
    return connection


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
            if not isinstance(named, list):  # (JSON, but not positions: `null`, `5`)
                raise sqlite3.DatabaseError(f"lease record {token!r} is damaged")
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


# -- what CALL runs (module functions: they cross the socket by name) -------------------


def ping(connection: sqlite3.Connection) -> None:
    connection.execute("SELECT 1").fetchone()


def probe(connection: sqlite3.Connection) -> None:
    """Write the header page again (same value): its commit needs the disk to work."""
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    connection.execute(f"PRAGMA user_version={int(version)}")


def redrive(connection: sqlite3.Connection, moves: list[tuple[int, int, int]]) -> None:
    connection.executemany(
        "UPDATE items SET queue_id = ?, pos = ?, attempts = 0, visible_at = NULL, "
        "ttl_at = NULL, dead_letter_from = NULL WHERE pos = ?",
        [(queue_id, new_pos, pos) for pos, queue_id, new_pos in moves],
    )


def change(connection: sqlite3.Connection, queue_id: int, settings: tuple[object, ...]) -> None:
    connection.execute(
        "UPDATE queues SET lease = ?, max_attempts = ?, dead_letter = ?, max_items = ?, "
        "retry_delays = ?, default_delay = ?, default_ttl = ?, extras = ? WHERE id = ?",
        (*settings, queue_id),
    )


def pause(connection: sqlite3.Connection, queue_id: int, paused: bool) -> None:
    connection.execute("UPDATE queues SET paused = ? WHERE id = ?", (paused, queue_id))


# -- running a batch ------------------------------------------------------------------


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


def _delete_all(connection: sqlite3.Connection, sql: str, tasks: list[tuple[int, Any]]) -> None:
    """Run `sql` (with `{marks}`) over the keys of every task, chunk by chunk."""
    every = [key for _, keys in tasks for key in keys]
    for chunk in _chunks(every):
        connection.execute(sql.format(marks=",".join("?" * len(chunk))), chunk)


def execute(connection: sqlite3.Connection, batch: list[Operation], number: int) -> list[Any]:
    """Run one batch inside the open transaction: the result of each operation, in the
    batch's order."""
    by_kind: list[list[tuple[int, Any]]] = [[] for _ in range(DROP + 1)]
    for index, (kind, argument) in enumerate(batch):
        by_kind[kind].append((index, argument))
    results: list[Any] = [None] * len(batch)

    for index, (function, arguments) in by_kind[CALL]:
        call: Callable[..., Any] = function
        results[index] = call(connection, *arguments)
    for index, pos in by_kind[PEEK]:
        row = connection.execute(
            "SELECT id, key, value, attempts, headers FROM items WHERE pos = ?", (pos,)
        ).fetchone()
        results[index] = None if row is None else tuple(row)
    for index, (name, created, settings) in by_kind[CREATE]:
        cursor = connection.execute(
            "INSERT INTO queues (name, created, lease, max_attempts, dead_letter, max_items, "
            "retry_delays, default_delay, default_ttl, extras, ordered) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, created, *settings),
        )
        results[index] = cursor.lastrowid
    if by_kind[INSERT]:
        _insert(connection, by_kind[INSERT])
    if by_kind[LEASE]:
        # One record a take (sqlite_009): the items' rows are read, not rewritten.
        records = []
        for index, (positions, until, token) in by_kind[LEASE]:
            leased = _returning(
                connection,
                "SELECT pos, id, key, value, attempts + 1, headers FROM items "
                "WHERE pos IN ({marks})",
                positions,
            )
            records.append((token, until, orjson.dumps(positions).decode()))
            results[index] = [leased.get(pos) for pos in positions]
        connection.executemany("INSERT INTO leases VALUES (?, ?, ?)", records)
    if by_kind[TAKE]:
        every = [pos for _, positions in by_kind[TAKE] for pos in positions]
        taken = _returning(
            connection,
            "DELETE FROM items WHERE pos IN ({marks}) "
            "RETURNING pos, id, key, value, attempts, headers",
            every,
        )
        for index, positions in by_kind[TAKE]:
            results[index] = [taken.get(pos) for pos in positions]
    if by_kind[DELETE]:
        _delete_all(connection, "DELETE FROM items WHERE pos IN ({marks})", by_kind[DELETE])
    for _, (pos, new_pos, visible_at, attempts) in by_kind[REQUEUE]:
        connection.execute(
            "UPDATE items SET pos = ?, lease_until = NULL, visible_at = ?, "
            "attempts = coalesce(?, attempts) WHERE pos = ?",
            (new_pos, visible_at, attempts, pos),
        )
    if by_kind[TOUCH]:
        connection.executemany(
            "UPDATE items SET lease_until = ? WHERE pos = ?",
            [(until, pos) for _, (pos, until) in by_kind[TOUCH]],
        )
    for _, (pos, queue_id, new_pos, origin, attempts) in by_kind[MOVE]:
        connection.execute(
            "UPDATE items SET queue_id = ?, pos = ?, lease_until = NULL, visible_at = NULL, "
            "ttl_at = NULL, dead_letter_from = ?, attempts = ? WHERE pos = ?",
            (queue_id, new_pos, origin, attempts, pos),
        )
    if by_kind[FORGET]:  # lease records none of whose items is in flight any more
        _delete_all(connection, "DELETE FROM leases WHERE token IN ({marks})", by_kind[FORGET])
    if by_kind[COUNT]:
        totals: dict[int, list[int]] = {}
        for _, (queue_id, changes) in by_kind[COUNT]:
            entry = totals.setdefault(queue_id, [0, 0, 0, 0, 0])
            for i, change_ in enumerate(changes):
                entry[i] += change_
        connection.executemany(
            "UPDATE queues SET put_total = put_total + ?, taken_total = taken_total + ?, "
            "acked_total = acked_total + ?, expired_total = expired_total + ?, "
            "dead_lettered_total = dead_lettered_total + ? WHERE id = ?",
            [(*changes, queue_id) for queue_id, changes in totals.items()],
        )
    for index, queue_id in by_kind[DROP]:
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
        results[index] = [token for (token,) in dropped]
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


def _insert(connection: sqlite3.Connection, tasks: list[tuple[int, Any]]) -> None:
    """Store the rows of every INSERT of the batch, and their dedup claims."""
    plain: list[Any] = []
    keyed: list[Any] = []
    full: list[Any] = []
    dedup: list[tuple[Any, ...]] = []
    for _, (queue_id, rows, dedups) in tasks:
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
    SQLite runs a statement per row of `executemany`, each with its own Python work."""
    width = len(columns)
    step = _PARAMETERS // width * width
    head = f"INSERT INTO items ({', '.join(columns)}) VALUES "
    mark = f"({', '.join('?' * width)})"
    for start in range(0, len(values), step):
        chunk = values[start : start + step]
        connection.execute(head + ", ".join([mark] * (len(chunk) // width)), chunk)


if __name__ == "__main__":
    main()
