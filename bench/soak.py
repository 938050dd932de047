"""Soak: a long mixed load on the SQLite storage; does anything grow without bound?

One server (SQLite, sync full) under a steady load for `--minutes`:
- producers putting at a fixed rate (single puts and batches of 20) to a set of
  queues that churns (one queue created and one deleted every 5 s);
- leased HTTP consumers that ack most items and leave some to expire (lease 1 s);
- WebSocket consumers that connect, stream with a `count` want, and go away.
Every 10 s: the server's resident memory, open file descriptors, the SQLite file and
WAL sizes, and the items queued. The samples go to bench/results/soak.json, the plot
to bench/soak.png, and a table (first, lowest, highest, last, and the change from the
second quarter's mean to the last quarter's) to stdout.

Run: .venv/bin/python bench/soak.py --minutes 60   (make bench runs --minutes 5)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from procs import free_port, running

BENCH = Path(__file__).resolve().parent
SAMPLE_EVERY = 10.0
QUEUES = 20
PUT_RATE = 200  # items per second, all producers together
VALUE = "v" * 200


def sample(pid: int, db: Path) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    wal = db.with_name(db.name + "-wal")
    return {
        "rss_mb": rss / 1024,
        "fds": len(list(Path(f"/proc/{pid}/fd").iterdir())),
        "db_mb": db.stat().st_size / 2**20 if db.exists() else 0.0,
        "wal_mb": wal.stat().st_size / 2**20 if wal.exists() else 0.0,
    }


class Soak:
    """The load's clients, sharing a list of live queues and a few counters."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session
        self.queues: list[str] = []
        self.counts = {"put": 0, "acked": 0, "expired_left": 0, "streamed": 0, "errors": 0}
        self.rng = random.Random(17)
        self.started = asyncio.Event()  # the first QUEUES queues exist

    async def call(self, path: str, **kwargs: Any) -> dict[str, Any] | None:
        try:
            async with self.session.post(self.url + path, **kwargs) as r:
                body: dict[str, Any] = await r.json()
        except (aiohttp.ClientError, TimeoutError):
            self.counts["errors"] += 1
            return None
        if r.status >= 500:
            self.counts["errors"] += 1
        return body if r.status == 200 else None

    async def new_queue(self) -> None:
        name = str(uuid.uuid4())
        if await self.call("/queues", data={"name": name}):
            self.queues.append(name)

    async def churn(self) -> None:
        for _ in range(QUEUES):
            await self.new_queue()
        self.started.set()
        while True:
            await asyncio.sleep(5)
            await self.new_queue()
            old = self.queues.pop(0)
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.session.delete(f"{self.url}/queue", params={"name": old}):
                    pass

    async def producer(self, rate: float) -> None:
        while True:
            queue = self.rng.choice(self.queues)
            if self.rng.random() < 0.5:
                if await self.call("/put", data={"name": queue, "value": VALUE}):
                    self.counts["put"] += 1
                await asyncio.sleep(1 / rate)
            else:
                body = {"name": queue, "items": [{"value": VALUE}] * 20}
                if await self.call("/put", json=body):
                    self.counts["put"] += 20
                await asyncio.sleep(20 / rate)

    async def leased_consumer(self) -> None:
        while True:
            queue = self.rng.choice(self.queues)
            data = {"name": queue, "lease": "1", "count": "20"}
            items = await self.call("/take", data=data)
            if not items or not items["payload"]:
                await asyncio.sleep(0.05)
                continue
            for item in items["payload"]:
                if self.rng.random() < 0.05:
                    self.counts["expired_left"] += 1  # its lease expires: it comes back
                    continue
                if await self.call("/ack", data={"name": queue, "id": item["id"]}):
                    self.counts["acked"] += 1

    async def ws_consumer(self) -> None:
        ws_url = self.url.replace("http://", "ws://") + "/take/ws"
        while True:
            queue = self.rng.choice(self.queues)
            try:
                async with self.session.ws_connect(ws_url) as ws:
                    want = {"identifier": "w", "queue": queue, "count": 50}
                    await ws.send_str(json.dumps(want))
                    deadline = time.monotonic() + self.rng.uniform(0.5, 3)
                    while (left := deadline - time.monotonic()) > 0:
                        with contextlib.suppress(TimeoutError):
                            message = await ws.receive(timeout=left)
                            if message.type != aiohttp.WSMsgType.TEXT:
                                break
                            self.counts["streamed"] += 1
            except (aiohttp.ClientError, TimeoutError):
                self.counts["errors"] += 1


async def soak(url: str, pid: int, db: Path, minutes: float) -> list[dict[str, float]]:
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        load = Soak(url, session)
        tasks = [asyncio.create_task(load.churn())]
        await load.started.wait()
        tasks += [asyncio.create_task(load.producer(PUT_RATE / 4)) for _ in range(4)]
        tasks += [asyncio.create_task(load.leased_consumer()) for _ in range(3)]
        tasks += [asyncio.create_task(load.ws_consumer()) for _ in range(4)]
        samples = []
        started = time.monotonic()
        try:
            while (elapsed := time.monotonic() - started) <= minutes * 60:
                point = {"t": elapsed, **sample(pid, db), **load.counts}
                point["queued"] = await queued(session, url)
                samples.append(point)
                print(json.dumps({k: round(v, 2) for k, v in point.items()}), flush=True)
                await asyncio.sleep(SAMPLE_EVERY - (time.monotonic() - started) % SAMPLE_EVERY)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return samples


async def queued(session: aiohttp.ClientSession, url: str) -> float:
    """Items ready, delayed and in flight over every queue (from GET /stats)."""
    async with session.get(f"{url}/stats") as r:
        body = await r.json()
    return float(sum(q["ready"] + q["delayed"] + q["in_flight"] for q in body["payload"]["queues"]))


def table(samples: list[dict[str, float]]) -> str:
    keys = ["rss_mb", "fds", "db_mb", "wal_mb", "queued"]
    quarter = max(1, len(samples) // 4)
    second = samples[quarter : 2 * quarter] or samples
    last = samples[-quarter:]
    lines = [
        "| measure | first | lowest | highest | last | 2nd-quarter mean → last-quarter mean |",
        "|---|---|---|---|---|---|",
    ]
    for key in keys:
        values = [s[key] for s in samples]
        before = sum(s[key] for s in second) / len(second)
        after = sum(s[key] for s in last) / len(last)
        lines.append(
            f"| {key} | {values[0]:.1f} | {min(values):.1f} | {max(values):.1f} | "
            f"{values[-1]:.1f} | {before:.1f} → {after:.1f} |"
        )
    return "\n".join(lines)


def plot(samples: list[dict[str, float]], path: Path, minutes: float) -> None:
    import matplotlib  # only the soak plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [
        ("rss_mb", "resident memory (MB)"),
        ("fds", "open file descriptors"),
        ("db_mb", "SQLite file (MB)"),
        ("wal_mb", "WAL (MB)"),
        ("queued", "items queued"),
    ]
    figure, axes = plt.subplots(len(keys), 1, figsize=(8, 10), sharex=True)
    t = [s["t"] / 60 for s in samples]
    for axis, (key, label) in zip(axes, keys, strict=True):
        axis.plot(t, [s[key] for s in samples])
        axis.set_ylabel(label, fontsize=8)
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("minutes")
    figure.suptitle(f"Disqueue soak, SQLite (sync full), {minutes:g} min, sampled every 10 s")
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--plot", type=Path, default=BENCH / "soak.png")
    args = parser.parse_args()
    port = free_port()
    (BENCH / "results").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BENCH / "results") as folder:
        db = Path(folder) / "data" / "disqueue.db"
        config = {"servers": [{"hostname": "127.0.0.1", "port": port}],
                  "storage": {"type": "sqlite", "path": str(db)}}  # fmt: skip
        path = Path(folder) / "config.json"
        path.write_text(json.dumps(config))
        cmd = [sys.executable, "-m", "disqueue", "-c", str(path)]
        with running(cmd, f"http://127.0.0.1:{port}/health") as server:
            samples = asyncio.run(soak(f"http://127.0.0.1:{port}", server.pid, db, args.minutes))
    (BENCH / "results" / "soak.json").write_text(json.dumps(samples, indent=1) + "\n")
    print(table(samples))
    plot(samples, args.plot, args.minutes)
    print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
