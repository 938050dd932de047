"""10,000 idle WebSocket consumers: memory per connection, delivery, and /health.

One server (default storage, SQLite) and client processes holding `--consumers`
WebSocket connections, each with one want on one of `--queues` queues. Then a
producer puts one item per consumer: every item must reach exactly one consumer.
Measured: the server's resident memory before and after the connections (and so per
connection), its open file descriptors, and /health's answer time (slowest and median
of 50 calls) with every connection open, idle and during the puts.

Run: .venv/bin/python bench/connections.py [--consumers 10000 --queues 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from procs import free_port, running

BENCH = Path(__file__).resolve().parent


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if "VmRSS" in line) / 1024


def fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


async def _consumers(url: str, queues: list[str], first: int, count: int,
                     ready: Any, go: Any, results: Any) -> None:  # fmt: skip
    """Hold `count` consumers (numbered from `first`); report what each received."""
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        gate = asyncio.Semaphore(50)

        async def connect(n: int) -> aiohttp.ClientWebSocketResponse:
            async with gate:
                ws = await session.ws_connect(url.replace("http", "ws", 1) + "/take/ws")
                queue = queues[n % len(queues)]
                await ws.send_str(json.dumps({"identifier": f"c{n}", "queue": queue}))
                return ws

        sockets = await asyncio.gather(*(connect(n) for n in range(first, first + count)))
        ready.set()
        await asyncio.to_thread(go.wait)

        async def receive(ws: aiohttp.ClientWebSocketResponse) -> list[str]:
            got = []
            while True:
                try:
                    message = await ws.receive(timeout=10)
                except TimeoutError:
                    return got
                if message.type != aiohttp.WSMsgType.TEXT:
                    return got
                got.append(json.loads(message.data)["payload"]["item"]["value"])

        received = await asyncio.gather(*(receive(ws) for ws in sockets))
        results.put(received)
        await asyncio.gather(*(ws.close() for ws in sockets))


def _client(*args: Any) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(_consumers(*args))


async def _health(session: aiohttp.ClientSession, url: str, calls: int = 50) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        async with session.get(f"{url}/health") as r:
            await r.read()
            assert r.status == 200, r.status
        times.append(time.perf_counter() - started)
        await asyncio.sleep(0.02)
    return times


def _ms(times: list[float]) -> str:
    return f"median {statistics.median(times) * 1000:.1f} ms, slowest {max(times) * 1000:.1f} ms"


async def _produce(url: str, queues: list[str], per_queue: int) -> list[float]:
    """Put `per_queue` items in each queue (16 at a time); /health times meanwhile."""
    async with aiohttp.ClientSession() as session:
        values = [(q, f"{q}:{i}") for i in range(per_queue) for q in queues]
        gate = asyncio.Semaphore(16)

        async def put(queue: str, value: str) -> None:
            async with gate, session.post(f"{url}/put", data={"name": queue, "value": value}) as r:
                assert r.status == 200, await r.text()

        health = asyncio.create_task(_health(session, url, 30))
        await asyncio.gather(*(put(q, v) for q, v in values))
        return await health


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consumers", type=int, default=10_000)
    parser.add_argument("--queues", type=int, default=1_000)
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (BENCH / "results").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BENCH / "results") as folder:
        # The default max_connections (10,000) leaves no room for the producer and /health.
        config = {"servers": [{"hostname": "127.0.0.1", "port": port}],
                  "storage": {"type": "sqlite", "path": f"{folder}/data/disqueue.db"},
                  "limits": {"max_connections": args.consumers + 100}}  # fmt: skip
        (Path(folder) / "config.json").write_text(json.dumps(config))
        cmd = [sys.executable, "-m", "disqueue", "-c", f"{folder}/config.json"]
        with running(cmd, f"{url}/health") as server:
            queues = [str(uuid.uuid4()) for _ in range(args.queues)]
            asyncio.run(_create(url, queues))
            before, fds_before = rss_mb(server.pid), fds(server.pid)
            started = time.monotonic()
            ctx = multiprocessing.get_context("spawn")
            go, results = ctx.Event(), ctx.Queue()
            share = -(-args.consumers // args.processes)
            readies, clients = [], []
            for p in range(args.processes):
                count = min(share, args.consumers - p * share)
                ready = ctx.Event()
                work = (url, queues, p * share, count, ready, go, results)
                proc = ctx.Process(target=_client, args=work)
                proc.start()
                readies.append(ready)
                clients.append(proc)
            for ready in readies:
                ready.wait()
            connected = time.monotonic() - started
            time.sleep(2)  # let the last wants settle
            after, fds_after = rss_mb(server.pid), fds(server.pid)
            waiting = asyncio.run(_waiting(url))
            idle = asyncio.run(_health_once(url))
            go.set()
            busy = asyncio.run(_produce(url, queues, args.consumers // args.queues))
            received = [got for _ in clients for got in results.get(timeout=120)]
            for proc in clients:
                proc.join(60)
    each = [len(got) for got in received]
    values = [value for got in received for value in got]
    per = (after - before) * 1024 / args.consumers
    print(f"consumers {args.consumers:,} on {args.queues:,} queues, connected in {connected:.0f} s")
    print(f"server wants waiting: {waiting:,}")
    print(f"server RSS {before:.0f} MB -> {after:.0f} MB: {per:.1f} KiB per connection")
    print(f"server open fds {fds_before} -> {fds_after}")
    print(f"/health with all connected, idle: {_ms(idle)}")
    print(f"/health during {len(values):,} puts: {_ms(busy)}")
    print(
        f"deliveries: {len(values):,}, distinct {len(set(values)):,}; consumers with exactly "
        f"one item: {each.count(1):,}, with none: {each.count(0):,}, with more: "
        f"{sum(1 for n in each if n > 1):,}"
    )
    ok = each.count(1) == args.consumers and len(set(values)) == len(values)
    print("every put reached exactly one consumer" if ok else "FAILED: see the counts above")
    return 0 if ok else 1


async def _create(url: str, queues: list[str]) -> None:
    async with aiohttp.ClientSession() as session:
        for name in queues:
            async with session.post(f"{url}/queues", data={"name": name}) as r:
                assert r.status == 200, await r.text()


async def _waiting(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/stats") as r:
        body = await r.json()
    return int(sum(q["consumers"] for q in body["payload"]["queues"]))


async def _health_once(url: str) -> list[float]:
    async with aiohttp.ClientSession() as session:
        return await _health(session, url)


if __name__ == "__main__":
    sys.exit(main())
