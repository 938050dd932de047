"""Restart with a million queued items: time to serve again, and resident memory.

Fills an SQLite data file with N items of 100 bytes (schema made by the server's own
code, rows written in bulk), then starts the real server on it and reports the time
from process start to the first `/health` answer, the server's resident memory
(VmRSS) once it serves, and checks that the queue reports N items.

    .venv/bin/python bench/scale.py [--items 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from disqueue.storage.embedded.sqlite import SQLiteStorage

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from procs import free_port  # noqa: E402  (bench/ is not a package)

QUEUE = "5ca1e000-0000-4000-8000-000000000001"


async def make_schema(path: Path) -> None:
    storage = SQLiteStorage(path)
    await storage.open()
    await storage.create_queue(QUEUE)
    await storage.close()


def fill(path: Path, items: int) -> None:
    value = "x" * 100
    with sqlite3.connect(path) as connection:
        (queue_id,) = connection.execute("SELECT id FROM queues").fetchone()
        connection.executemany(
            "INSERT INTO items (pos, queue_id, id, key, value) VALUES (?, ?, ?, ?, ?)",
            ((i, queue_id, f"id{i:x}", f"key-{i % 10_000}", value) for i in range(1, items + 1)),
        )
        connection.execute("UPDATE queues SET put_total = ?", (items,))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def request(url: str, data: bytes | None = None) -> dict[str, object]:
    with urllib.request.urlopen(url, data=data, timeout=5) as response:
        result: dict[str, object] = json.load(response)
        return result


def main(items: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "disqueue.db"
        asyncio.run(make_schema(path))
        started = time.perf_counter()
        fill(path, items)
        print(
            f"filled {items:,} items of 100 bytes in {time.perf_counter() - started:.1f} s "
            f"({path.stat().st_size / 1e6:.0f} MB file)"
        )
        port = free_port()
        config = Path(folder) / "config.json"
        config.write_text(
            json.dumps(
                {
                    "servers": [{"hostname": "127.0.0.1", "port": port}],
                    "storage": {"type": "sqlite", "path": str(path)},
                    "log": {"level": "warning"},
                }
            )
        )
        started = time.perf_counter()
        server = subprocess.Popen([sys.executable, "-m", "disqueue", "-c", str(config)])
        try:
            url = f"http://127.0.0.1:{port}"
            while True:
                try:
                    request(f"{url}/health")
                    break
                except OSError:
                    if server.poll() is not None:
                        raise SystemExit("server exited") from None
                    time.sleep(0.02)
            ready = time.perf_counter() - started
            memory = rss_mb(server.pid)
            info = request(f"{url}/queue", f"name={QUEUE}".encode())
            size = info["payload"]["size"]  # type: ignore[index]
            assert size == items, f"queue reports {size} items, expected {items}"
            print(f"restart to serving: {ready:.2f} s (target <= 10 s)")
            print(f"resident memory:    {memory:.0f} MB (target <= 400 MB)")
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    main(parser.parse_args().items)
