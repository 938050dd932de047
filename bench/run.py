"""Disqueue benchmark: the server against a minimal aiohttp app, in one run.

Each Disqueue row has a reference row: the same load against
bench/reference_app.py, which only parses the form and answers a small JSON
object. Both servers run side by side (one idle while the other is measured) and
each reference row is measured just before the rows it is the ceiling of. The
ratio to that ceiling is the figure that matters. See bench/README.md.

Run: make bench [ARGS="--duration 5 --connections 64"]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import ws_load
from consumer import consumer_rows
from delivery import delivery_rows, ws_url
from fill import create_queue, delete_queue, fill
from postgres import postgres_rows
from procs import free_port, running
from table import Row, format_table, set_ratios
from wrkrun import Load, wrk

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
KEYS = 10_000
KEYED_ITEMS = 100_000

REF_PUT = "reference: POST form (put body)"
REF_TAKE = "reference: POST form (take body)"
REF_WS = "reference: ws want -> item"
REF_BARE_PUT = "reference: bare uvloop+httptools, POST form (put body)"
REF_BARE_TAKE = "reference: bare uvloop+httptools, POST form (take body)"
PUT = "put (median of 3)"
ANY_QUEUE = "00000000-0000-4000-8000-000000000000"  # the reference app ignores it


@contextlib.contextmanager
def reference_app() -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, str(BENCH / "reference_app.py"), "--port", str(port)]
    with running(cmd, f"http://127.0.0.1:{port}/health"):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def bare_reference() -> Iterator[str | None]:
    """reference_httptools.py, or None (its rows left out) without httptools."""
    if importlib.util.find_spec("httptools") is None:
        print("no httptools (pip install -e '.[bench]'): the bare reference rows are left out")
        yield None
        return
    port = free_port()
    cmd = [sys.executable, str(BENCH / "reference_httptools.py"), "--port", str(port)]
    with running(cmd, f"http://127.0.0.1:{port}/health"):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def disqueue_server(
    storage: dict[str, str] | None = None,
    http: str = "fast",
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Disqueue server on `storage` (memory by default), its listener's API calls on
    the `http` stack (docs/CONFIG.md)."""
    port = free_port()
    config = {
        "servers": [{"hostname": "127.0.0.1", "port": port, "http": http}],
        "storage": storage or {"type": "memory"},
    }
    # The data folder sits beside the config, under the repository (a real disk, as
    # in production), not in a tmpfs where fsync would cost nothing.
    (BENCH / "results").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BENCH / "results") as folder:
        path = Path(folder) / "config.json"
        path.write_text(json.dumps(config))
        cmd = [sys.executable, "-m", "disqueue", "-c", str(path)]
        with running(cmd, f"http://127.0.0.1:{port}/health") as server:
            yield f"http://127.0.0.1:{port}", server


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median requests per second."""
    return dict(sorted(runs, key=lambda run: run["rps"])[len(runs) // 2])


def http_rows(ref: str, base: str, load: Load, rows: list[Row], bare: str | None = None) -> None:
    """put, take, and keyed against unkeyed take; appended to `rows` as measured."""
    warm_up = replace(load, duration=1.0)
    wrk(ref, "ref.lua", ["put"], warm_up)
    queue = create_queue(base)
    wrk(base, "put.lua", [queue], warm_up)
    delete_queue(base, queue)

    # The headline ratio: reference and put alternate three times, and each keeps its
    # median run, so one noisy second on this shared machine does not decide it.
    queue = create_queue(base)
    refs, puts = [], []
    for _ in range(3):
        refs.append(wrk(ref, "ref.lua", ["put"], load))
        puts.append(wrk(base, "put.lua", [queue], load))
    rows.append(Row.from_wrk(REF_PUT, median(refs)))
    if bare is not None:  # the same requests without a web framework
        rows.append(Row.from_wrk(REF_BARE_PUT, wrk(bare, "ref.lua", ["put"], load)))
    put = median(puts)
    put["requests"] = sum(run["requests"] for run in puts) // 3  # what the queue holds / 3
    rows.append(Row.from_wrk(PUT, put, REF_PUT))
    # take from the same queue: the three put runs left three times what one stored
    rows.append(Row.from_wrk(REF_TAKE, wrk(ref, "ref.lua", ["take"], load)))
    if bare is not None:
        rows.append(Row.from_wrk(REF_BARE_TAKE, wrk(bare, "ref.lua", ["take"], load)))
    take = wrk(base, "take.lua", [queue], load)
    queued = sum(run["requests"] for run in puts)
    rows.append(Row.from_wrk(f"take ({queued:,} queued)", take, REF_TAKE))
    delete_queue(base, queue)

    # Keyed against unkeyed take, each from a queue with the same keyed items: at
    # least 4x what a take run consumes, so no key runs dry. The keyed queue is
    # filled by a put run that is measured too.
    items = max(KEYED_ITEMS, -(-4 * int(take["rps"] * load.duration) // KEYS) * KEYS)
    label = f"{items // 1000}k items, {KEYS // 1000}k keys"
    keyed, unkeyed = create_queue(base), create_queue(base)
    put = wrk(base, "put.lua", [keyed, str(KEYS)], load, limit=items, max_seconds=600)
    rows.append(Row.from_wrk(f"put keyed (to {label})", put, REF_PUT))
    fill(base, unkeyed, items, load, keys=KEYS)
    for name, script, queue in (
        ("take keyed", "take_keyed.lua", keyed),
        ("take unkeyed", "take.lua", unkeyed),
    ):
        result = wrk(base, script, [queue, str(KEYS)], load)
        rows.append(Row.from_wrk(f"{name} ({label})", result, REF_TAKE))
        delete_queue(base, queue)


def ws_rows(ref: str, base: str, load: Load, processes: int, rows: list[Row]) -> None:
    """WebSocket delivery from a prefilled queue, after its reference row."""
    options = {"connections": load.connections, "processes": processes}
    ceiling = ws_load.run(ws_url(ref), ANY_QUEUE, duration=load.duration, **options)
    rows.append(Row.from_ws(REF_WS, ceiling))
    # As many items as the client took from the reference endpoint: each connection
    # stops after its share, so a faster run ends early rather than run dry.
    items = int(ceiling["rps"] * load.duration) + load.connections
    queue = create_queue(base)
    fill(base, queue, items, load)
    result = ws_load.run(ws_url(base), queue, duration=load.duration, items=items, **options)
    rows.append(Row.from_ws(f"ws delivery ({items:,} queued)", result, REF_WS))
    delete_queue(base, queue)


def durable_rows(base: str, load: Load, rows: list[Row]) -> None:
    """put and take on the SQLite default storage (fsync per commit), each against the
    memory backend's row measured in the same run."""
    queue = create_queue(base)
    wrk(base, "put.lua", [queue], replace(load, duration=1.0))
    put = wrk(base, "put.lua", [queue], load)
    rows.append(Row.from_wrk("durable put (sqlite)", put, PUT))
    fill(base, queue, put["requests"], load)
    take = wrk(base, "take.lua", [queue], load)
    memory_take = next(row.name for row in rows if row.name.startswith("take ("))
    label = f"durable take ({2 * put['requests']:,} queued)"
    rows.append(Row.from_wrk(label, take, memory_take))
    delete_queue(base, queue)


def run_script(name: str, *args: str) -> None:
    """Run another benchmark of bench/ and let it print its own report."""
    script = BENCH / name
    print(f"\n$ {script.relative_to(ROOT)} {' '.join(args)}".rstrip(), flush=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run([sys.executable, str(script), *args], cwd=ROOT, env=env, timeout=600)
    if done.returncode:
        print(f"{name} exited with status {done.returncode}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per row")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--ws-processes",
        type=int,
        default=max(1, (os.cpu_count() or 2) - 1),
        help="WebSocket client processes (default: the cores the server leaves free)",
    )
    parser.add_argument(
        "--scale-items", type=int, default=1_000_000, help="items for the restart benchmark"
    )
    args = parser.parse_args()
    started = time.monotonic()
    busy = os.getloadavg()[0]
    if busy > 0.5:
        print(f"warning: load average {busy:.1f} before the start; expect noisy figures")

    rows: list[Row] = []
    failure = None
    try:
        with reference_app() as ref, bare_reference() as bare, disqueue_server() as (base, server):
            load = Load(args.connections, args.threads, args.duration)
            load = replace(load, alive=lambda: server.poll() is None)
            http_rows(ref, base, load, rows, bare)
            ws_rows(ref, base, load, args.ws_processes, rows)
            take = next(row.name for row in rows if row.name.startswith("take ("))
            delivery_rows(base, load, rows, "memory", PUT, take, args.ws_processes)
            consumer_rows(base, load, rows)
        with disqueue_server({"type": "sqlite"}) as (base, server):
            load = replace(load, alive=lambda: server.poll() is None)
            durable_rows(base, load, rows)
            take = next(row.name for row in rows if row.name.startswith("durable take"))
            delivery_rows(
                base, load, rows, "sqlite", "durable put (sqlite)", take, args.ws_processes
            )
        load = replace(load, alive=lambda: True)
        postgres_rows(disqueue_server, load, rows, "durable put (sqlite)", take)
    except Exception as exc:  # report the rows measured so far, then the failure
        failure = f"{type(exc).__name__}: {exc}"
    set_ratios(rows)

    print(
        f"{args.connections} connections, {args.threads} wrk thread(s), "
        f"{args.ws_processes} ws process(es), {args.duration:g} s per row"
    )
    print(format_table(rows))
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    report = {
        "args": vars(args),
        "rows": [asdict(row) | {"rps": row.rps} for row in rows],
        "failure": failure,
    }
    (results / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    if failure:
        print(f"\nfailed: {failure}", file=sys.stderr)
    run_script("core_keyed.py")
    run_script("postgres_priorities.py")
    run_script("ordered.py")
    run_script("expiry.py")
    run_script("scale.py", "--items", str(args.scale_items))
    run_script("connections.py")
    # The 5-minute soak (the hour: bench/soak.py --minutes 60); its plot stays in results/.
    run_script("soak.py", "--minutes", "5", "--plot", str(results / "soak.png"))
    print(f"\n(total {time.monotonic() - started:.0f} s; results in bench/results/latest.json)")
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
