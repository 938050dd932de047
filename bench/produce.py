"""Produce alone: `AsyncClient.put_many` of ITEMS items of 100 bytes (batches of 1000)
into a server on the durable default (SQLite, `sync: full`; `--postgres`: on the
PostgreSQL storage of `DISQUEUE_TEST_POSTGRES`, a fresh schema a round), the figures of
each checkout given, alternating round by round: items/s, and CPU µs per item of the
server process and of the client process (which a busy machine disturbs less).

    .venv/bin/python bench/produce.py before=/path/to/old after=. [--items 100000]
        [--rounds 3] [--postgres] [--profile DIR]

`--profile DIR` records py-spy (raw, 200 Hz) of both processes in each round, as
DIR/LABEL-ROUND-server.txt and -client.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from peers import PG_DSN, _drop_schema
from procs import free_port, running

BENCH = Path(__file__).resolve().parent
TICK = os.sysconf("SC_CLK_TCK")
CLIENT = r"""
import asyncio, sys, time, uuid
from disqueue.client import AsyncClient

async def main(url: str, items: int) -> None:
    async with AsyncClient(url) as client:
        queue = await client.create_queue(str(uuid.uuid4()))
        await client.put_many(queue, ["v" * 100] * 2000)  # connections and code warm
        print("READY", flush=True)
        sys.stdin.readline()
        started, cpu = time.perf_counter(), time.process_time()
        ids = await client.put_many(queue, ["v" * 100] * items)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert len(ids) == items
        print("RESULT", items / seconds, cpu / items * 1e6, flush=True)

try:
    import uvloop
    uvloop.install()
except ImportError:
    pass
asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def cpu(pid: int) -> float:
    """User and system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    py_spy = Path(sys.executable).parent / "py-spy"
    cmd = [str(py_spy), "record", "-r", "200", "-f", "raw", "-o", str(out), "--pid", str(pid)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(checkout: Path, items: int, profile: Path | None, postgres: bool) -> dict[str, float]:
    """One round against a fresh server of `checkout`."""
    sources = [checkout / "src", checkout / "clients" / "python" / "src"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(path) for path in sources)}
    (BENCH / "results").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BENCH / "results") as folder:
        port = free_port()
        config = Path(folder) / "config.json"
        storage = {"type": "sqlite", "path": str(Path(folder) / "disqueue.db")}
        if postgres:
            storage = {"type": "postgres", "dsn": PG_DSN, "schema": f"produce_{uuid.uuid4().hex}"}
        servers = [{"hostname": "127.0.0.1", "port": port}]
        config.write_text(json.dumps({"servers": servers, "storage": storage}))
        cmd = [sys.executable, "-m", "disqueue", "-c", str(config)]
        url = f"http://127.0.0.1:{port}"
        with running(cmd, f"{url}/health", env=env) as server:
            client = subprocess.Popen(
                [sys.executable, "-c", CLIENT, url, str(items)],
                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert client.stdin is not None and client.stdout is not None
            try:
                if client.stdout.readline().strip() != "READY":
                    raise RuntimeError("the client failed before its run")
                spies = []
                if profile is not None:
                    spies = [
                        spy(process.pid, profile.with_name(f"{profile.name}-{side}.txt"))
                        for process, side in ((server, "server"), (client, "client"))
                    ]
                    time.sleep(1.5)  # py-spy attached
                before = cpu(server.pid)
                client.stdin.write("\n")
                client.stdin.flush()
                fields = client.stdout.readline().split()
                server_cpu = cpu(server.pid) - before
                for process in spies:
                    process.send_signal(2)
                    process.wait()
            finally:
                client.stdin.close()
                client.wait()
        if postgres:  # the server stopped
            _drop_schema(storage["schema"])
    if len(fields) != 3 or fields[0] != "RESULT":
        raise RuntimeError("the client failed during its run")
    return {
        "items/s": float(fields[1]),
        "server us/item": server_cpu / items * 1e6,
        "client us/item": float(fields[2]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkouts", nargs="+", metavar="LABEL=DIR")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="the PostgreSQL storage")
    parser.add_argument("--profile", type=Path, help="a folder for py-spy's raw profiles")
    args = parser.parse_args()
    checkouts = [(label, Path(folder).resolve()) for label, folder in
                 (entry.split("=", 1) for entry in args.checkouts)]  # fmt: skip
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    results: dict[str, list[dict[str, float]]] = {label: [] for label, _ in checkouts}
    for number in range(1, args.rounds + 1):
        order = checkouts if number % 2 else checkouts[::-1]
        for label, folder in order:
            profile = None if args.profile is None else args.profile / f"{label}-{number}"
            result = measure(folder, args.items, profile, args.postgres)
            results[label].append(result)
            shown = ", ".join(f"{key} {value:,.2f}" for key, value in result.items())
            print(f"round {number} {label}: {shown}", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print("| checkout | items/s | server CPU us/item | client CPU us/item |")
    print("|---|---|---|---|")
    for label, rounds in results.items():
        medians = [statistics.median(r[key] for r in rounds) for key in rounds[0]]
        print(f"| {label} | {medians[0]:,.0f} | {medians[1]:.2f} | {medians[2]:.2f} |")


if __name__ == "__main__":
    main()
