"""The README's worker on the durable default, as CPU per item: `client.consume(queue,
lease=30, prefetch=100)` acking every item, against SQLite `sync: full` on the real
disk, with the CPU time each side spends per item (the worker's process; the server's
event loop thread, the rest of its threads, and its child processes: the SQLite writer
process since decision 0018, its thread before) beside the items/s. On a busy machine
the rate moves with the load far more than the CPU per item.

    .venv/bin/python bench/consume_cpu.py --checkout before=/tmp/old --checkout after=.

Each checkout runs its own server and client (`PYTHONPATH`), in alternating rounds
(`--rounds`, default 3; the second in reverse order), and the medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from procs import free_port, running, worker_result

BENCH = Path(__file__).resolve().parent
TICK = os.sysconf("SC_CLK_TCK")


def threads_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each part of `pid` so far: `loop` (the main thread), `other` (its
    other threads) and `children` (its child processes: the SQLite writer's)."""
    spent = {"loop": 0.0, "other": 0.0, "children": 0.0}
    for tid in os.listdir(f"/proc/{pid}/task"):
        spent["loop" if tid == str(pid) else "other"] += _cpu(f"/proc/{pid}/task/{tid}")
        with open(f"/proc/{pid}/task/{tid}/children") as children:
            spent["children"] += sum(_cpu(f"/proc/{child}") for child in children.read().split())
    return spent


def _cpu(proc: str) -> float:
    with open(f"{proc}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def _work(url: str, items: int, server: int) -> dict[str, float]:
    from disqueue.client import AsyncClient

    async with AsyncClient(url) as client:
        queue = str(uuid.uuid4())
        await client.create_queue(queue)
        await client.put_many(queue, ["v" * 100] * items)
        handled, first = 0, 0.0
        before, own = threads_cpu(server), time.process_time()
        async for _item in client.consume(queue, lease=30, prefetch=100, stop_signals=()):
            first = first or time.perf_counter()
            handled += 1
            if handled >= items:
                break
        elapsed = time.perf_counter() - first
        after, own = threads_cpu(server), time.process_time() - own
        await client.delete_queue(queue)
    per_item = 1e6 / items
    return {
        "items_s": (items - 1) / elapsed,
        "client_us": own * per_item,
        "loop_us": (after["loop"] - before["loop"]) * per_item,
        "other_us": (after["other"] - before["other"]) * per_item,
        "children_us": (after["children"] - before["children"]) * per_item,
    }


def measure(checkout: Path, items: int) -> dict[str, float]:
    """One round: a fresh server of `checkout`, the worker in a process of its own."""
    sources = [checkout / "src", checkout / "clients" / "python" / "src"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, sources))}
    (BENCH / "results").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BENCH / "results") as folder:
        port = free_port()
        config = Path(folder) / "config.json"
        storage = {"type": "sqlite", "path": str(Path(folder) / "data.sqlite")}
        servers = [{"hostname": "127.0.0.1", "port": port}]
        config.write_text(json.dumps({"servers": servers, "storage": storage}))
        cmd = [sys.executable, "-m", "disqueue", "-c", str(config)]
        with running(cmd, f"http://127.0.0.1:{port}/health", env=env) as server:
            worker = [sys.executable, __file__, "--worker", f"http://127.0.0.1:{port}"]
            worker += [str(items), str(server.pid)]
            return worker_result(worker, str(checkout), env, timeout=600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checkout", action="append", default=[], metavar="LABEL=DIR")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import uvloop

        url, items, server = args.worker
        result = uvloop.run(_work(url, int(items), int(server)))
        print("RESULT " + json.dumps(result), flush=True)
        return
    checkouts = [entry.split("=", 1) for entry in args.checkout] or [["this", str(BENCH.parent)]]
    runs: dict[str, list[dict[str, float]]] = {label: [] for label, _ in checkouts}
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    for number in range(args.rounds):
        for label, folder in checkouts if number % 2 == 0 else checkouts[::-1]:
            result = measure(Path(folder).resolve(), args.items)
            runs[label].append(result)
            print(
                f"round {number + 1} {label}: "
                + ", ".join(f"{k} {v:,.1f}" for k, v in result.items())
            )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print("| checkout | consume + ack items/s | client µs/item | server loop µs/item "
          "| server other threads µs/item | server child processes µs/item |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for label, results in runs.items():
        median = {key: statistics.median(r[key] for r in results) for key in results[0]}
        print(f"| {label} | {median['items_s']:,.0f} | {median['client_us']:.1f} | "
              f"{median['loop_us']:.1f} | {median['other_us']:.1f} | "
              f"{median['children_us']:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
