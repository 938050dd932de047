"""Rows for the PostgreSQL backend: one node, then two nodes on one database.

put and take go through wrk (two nodes: one wrk per node, half the connections each,
run at the same time, their answers added). Each row's note gives every node's CPU
seconds per 1,000 requests, read from /proc: on a machine with more cores than this
one (which also runs PostgreSQL and the load) that figure, not the raw rate, predicts
how far nodes scale. The one-node rows are divided by the SQLite rows of the same run,
the two-node rows by the one-node rows.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from fill import create_queue, delete_queue, fill
from table import Row
from wrkrun import Load, wrk

DSN = os.environ.get("DISQUEUE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BATCH = 1000
TICKS = os.sysconf("SC_CLK_TCK")

Server = Callable[[dict[str, Any]], contextlib.AbstractContextManager[tuple[str, Any]]]


def cpu_seconds(proc: subprocess.Popen[bytes]) -> float:
    """User and system CPU time of a process so far."""
    with open(f"/proc/{proc.pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def on_nodes(
    nodes: list[tuple[str, subprocess.Popen[bytes]]],
    script: str,
    queue: str,
    load: Load,
    limit: int = 0,
) -> tuple[dict[str, Any], str]:
    """Run `script` against every node at once (with `limit`, stop after that many
    answers in all); the summed result and a CPU note."""
    share = replace(load, connections=max(1, load.connections // len(nodes)))
    before = [cpu_seconds(proc) for _, proc in nodes]
    results: list[dict[str, Any]] = [{} for _ in nodes]

    def one(index: int, base: str) -> None:
        if limit:
            shared = -(-limit // len(nodes))
            results[index] = wrk(base, script, [queue], share, limit=shared, max_seconds=60)
        else:
            results[index] = wrk(base, script, [queue], share)

    threads = [threading.Thread(target=one, args=(i, base)) for i, (base, _) in enumerate(nodes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spent = [cpu_seconds(proc) - start for (_, proc), start in zip(nodes, before, strict=True)]
    total = dict(results[0])
    for key in ("requests", "non2xx", "socket_errors", "not_found"):
        total[key] = sum(result[key] for result in results)
    total["duration_us"] = max(result["duration_us"] for result in results)
    total["p50_ms"] = max(result["p50_ms"] for result in results)
    total["p99_ms"] = max(result["p99_ms"] for result in results)
    per_1000 = [
        1000 * cpu / result["requests"] if result["requests"] else 0.0
        for cpu, result in zip(spent, results, strict=True)
    ]
    note = "CPU s/1000 req: " + ", ".join(f"{x:.2f}" for x in per_1000)
    return total, note


@contextlib.contextmanager
def nodes(server: Server, count: int) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    """`count` servers on one fresh schema, dropped once they stopped."""
    schema = f"bench_{secrets.token_hex(4)}"
    storage = {"type": "postgres", "dsn": DSN, "schema": schema}
    try:
        with contextlib.ExitStack() as stack:
            yield [stack.enter_context(server(storage)) for _ in range(count)]
    finally:
        drop = f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'
        subprocess.run(["psql", "-q", DSN, "-c", drop], check=False, capture_output=True)


def postgres_rows(
    server: Server, load: Load, rows: list[Row], sqlite_put: str, sqlite_take: str
) -> None:
    """Append the one-node and two-node rows (see the module's docstring)."""
    references = {"put": sqlite_put, "take": sqlite_take, "batch": sqlite_take}
    for count in (1, 2):
        label = "1 node" if count == 1 else "2 nodes"
        with nodes(server, count) as started:
            base = started[0][0]
            queue = create_queue(base)
            wrk(base, "put.lua", [queue], replace(load, duration=1.0))  # warm up
            put, note = on_nodes(started, "put.lua", queue, load)
            rows.append(Row.from_wrk(f"postgres put ({label})", put, references["put"]))
            rows[-1].note = note
            fill(base, queue, put["requests"], load)
            take, note = on_nodes(started, "take.lua", queue, load)
            rows.append(Row.from_wrk(f"postgres take ({label})", take, references["take"]))
            rows[-1].note = note
            delete_queue(base, queue)

            # As many full batches as the queue holds: wrk stops when they are taken.
            queue, batches = create_queue(base), int(50 * load.duration)
            fill(base, queue, batches * BATCH, load)
            batch, note = on_nodes(started, "take_batch.lua", queue, load, limit=batches)
            row = Row.from_wrk(f"postgres take count={BATCH} ({label}, items/s)", batch,
                               references["batch"])  # fmt: skip
            row.requests *= BATCH
            row.note = note
            rows.append(row)
            delete_queue(base, queue)
        references = {
            "put": "postgres put (1 node)",
            "take": "postgres take (1 node)",
            "batch": f"postgres take count={BATCH} (1 node, items/s)",
        }
