"""What SQLite itself does for the README's worker's durable work, with no server: the
ceiling of the SQLite backend's consume + ack on this machine.

The same work the server's writer process does for one consumer with `prefetch`
items on their way: each transaction leases the next `window` items and deletes the
`window` acked before (a lease and an ack share a commit at best), `synchronous=FULL`
(an fsync a commit), on the schema of this checkout's migrations. Two ways to lease:
`update` rewrites each item's row (the SQLite backend before decision 0017), `record`
reads the rows and writes one lease record (after it). One thread, no GIL contention,
no network, no JSON: what is left for the server and the client is the difference.

    .venv/bin/python bench/sqlite_ceiling.py [--items 100000] [--window 100 --window 25]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "src"))

from disqueue.storage.base import migrations  # noqa: E402

VALUE = "v" * 100


def _database(folder: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(folder / "ceiling.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL").fetchone()
    connection.execute("PRAGMA synchronous=FULL")
    for step in migrations("sqlite"):
        connection.executescript(step)
    connection.execute("INSERT INTO queues (name, created) VALUES ('q', '')")
    return connection


def _fill(connection: sqlite3.Connection, items: int) -> None:
    connection.execute("DELETE FROM items")
    for start in range(0, items, 250):
        values: list[object] = []
        for pos in range(start + 1, min(start + 250, items) + 1):
            values += (pos, 1, str(pos), VALUE)
        marks = ", ".join(["(?, ?, ?, ?)"] * (len(values) // 4))
        connection.execute(f"INSERT INTO items (pos, queue_id, id, value) VALUES {marks}", values)


def _lease(connection: sqlite3.Connection, way: str, positions: list[int], token: str) -> None:
    marks = ",".join("?" * len(positions))
    if way == "update":
        connection.execute(
            "UPDATE items SET attempts = attempts + 1, lease_until = ?, receipt = ? "
            f"WHERE pos IN ({marks}) RETURNING pos, id, key, value, attempts, headers",
            [1.0, token, *positions],
        ).fetchall()
    else:
        connection.execute(
            f"SELECT pos, id, key, value, attempts + 1, headers FROM items WHERE pos IN ({marks})",
            positions,
        ).fetchall()
        connection.execute(
            "INSERT INTO leases VALUES (?, ?, ?)", (token, 1.0, orjson.dumps(positions).decode())
        )


def measure(connection: sqlite3.Connection, way: str, items: int, window: int) -> float:
    """Items leased and acked a second."""
    _fill(connection, items)
    connection.execute("DELETE FROM leases")
    started = time.perf_counter()
    acked: list[int] = []
    for start in range(0, items + window, window):
        positions = list(range(start + 1, min(start + window, items) + 1))
        connection.execute("BEGIN IMMEDIATE")
        if positions:
            _lease(connection, way, positions, f"t{start}")
        if acked:
            marks = ",".join("?" * len(acked))
            connection.execute(f"DELETE FROM items WHERE pos IN ({marks})", acked)
            if way == "record":
                connection.execute("DELETE FROM leases WHERE token = ?", (f"t{start - window}",))
        connection.execute("COMMIT")
        acked = positions
    return items / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--window", type=int, action="append")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    windows = args.window or [100, 25]
    results: dict[tuple[str, int], list[float]] = {}
    (BENCH / "results").mkdir(exist_ok=True)  # on the disk the server would use, not /tmp
    with tempfile.TemporaryDirectory(dir=BENCH / "results") as folder:
        connection = _database(Path(folder))
        for _ in range(args.rounds):
            for window in windows:
                for way in ("update", "record"):
                    rate = measure(connection, way, args.items, window)
                    results.setdefault((way, window), []).append(rate)
        connection.close()
    print("| lease written as | items a commit | lease + ack items/s (median) |")
    print("|---|---|---|")
    for (way, window), rates in results.items():
        print(f"| {way} | {window} | {statistics.median(rates):,.0f} |")


if __name__ == "__main__":
    main()
