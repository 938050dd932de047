"""WebSocket delivery load: several processes, each with several connections.

Each connection keeps exactly one want outstanding on `/take/ws`: it sends
`{"identifier": ..., "queue": ..., "key": ...}`, waits for the item, and wants
again (as the original consumer does). Against a prefilled queue every want is
answered from storage at once. With `items` (what the queue holds), each
connection stops after its share, so a fast server ends the run early instead
of starving on an empty queue. Reports deliveries/s and p50/p99 of the
want -> item round trip.

Run: python bench/ws_load.py ws://127.0.0.1:8080/take/ws QUEUE [--duration 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import sys
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

STALLED_AFTER = 1.0  # seconds a want may wait at the end before it counts as starved


@dataclass
class Stats:
    latencies_us: array[int] = field(default_factory=lambda: array("q"))
    delivered: int = 0  # items (a streaming want brings many per latency sample)
    errors: int = 0
    stalled: int = 0
    started: float = 0.0
    elapsed: float = 0.0  # from the start to the last delivery
    first_error: str = ""

    def error(self, text: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or text[:200]


async def _consume(
    ws: aiohttp.ClientWebSocketResponse, want: dict[str, Any], quota: int, stats: Stats
) -> None:
    prefix = f"{os.getpid()}-{id(ws)}-"
    sequence = 0
    while sequence < quota:
        sequence += 1
        sent = time.perf_counter()
        want["identifier"] = identifier = f"{prefix}{sequence}"
        await ws.send_str(orjson.dumps(want).decode())
        try:
            message = await ws.receive()
        except asyncio.CancelledError:
            if time.perf_counter() - sent > STALLED_AFTER:
                stats.stalled += 1
            raise
        if message.type is not aiohttp.WSMsgType.TEXT:
            stats.error(f"connection ended: {message.type.name}")
            return
        answer = orjson.loads(message.data)
        if not answer.get("success") or answer["payload"]["id"] != identifier:
            stats.error(message.data)
            continue
        now = time.perf_counter()
        stats.latencies_us.append(int((now - sent) * 1e6))
        stats.delivered += 1
        stats.elapsed = max(stats.elapsed, now - stats.started)


async def _stream(
    ws: aiohttp.ClientWebSocketResponse, want: dict[str, Any], quota: int, stats: Stats
) -> None:
    """Standing wants of `want["count"]` items; with a lease, ack each item as it comes
    (without waiting for the ack's reply). One latency sample per want: from sending
    it to its last item."""
    prefix = f"{os.getpid()}-{id(ws)}-"
    sequence, received = 0, 0
    lease = "lease" in want
    while received < quota:
        sequence += 1
        count = min(want["count"], quota - received)
        identifier = f"{prefix}{sequence}"
        sent = time.perf_counter()
        await ws.send_str(orjson.dumps({**want, "identifier": identifier, "count": count}).decode())
        got = 0
        while got < count:
            message = await ws.receive()
            if message.type is not aiohttp.WSMsgType.TEXT:
                stats.error(f"connection ended: {message.type.name}")
                return
            answer = orjson.loads(message.data)
            payload = answer.get("payload") or {}
            if not answer.get("success"):
                stats.error(message.data)
                continue
            if "item" not in payload:
                continue  # the reply to an ack
            got += 1
            if lease:
                ack = {"op": "ack", "identifier": "a", "queue": want["queue"]}
                await ws.send_str(orjson.dumps({**ack, "id": payload["item"]["id"]}).decode())
        received += count
        now = time.perf_counter()
        stats.latencies_us.append(int((now - sent) * 1e6))
        stats.delivered += count
        stats.elapsed = max(stats.elapsed, now - stats.started)


async def _worker(
    url: str,
    queue: str,
    connections: int,
    quota: int,
    start_at: float,
    duration: float,
    options: dict[str, Any],
) -> Stats:
    stats = Stats()
    want: dict[str, Any] = {"queue": queue, **options}
    consume = _stream if "count" in options else _consume
    async with aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect(url) for _ in range(connections)]
        await asyncio.sleep(max(0.0, start_at - time.time()))
        stats.started = time.perf_counter()
        tasks = [asyncio.create_task(consume(ws, dict(want), quota, stats)) for ws in sockets]
        _, pending = await asyncio.wait(tasks, timeout=duration)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ws in sockets:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)
    return stats


def _process(args: tuple[str, str, int, int, float, float, dict[str, Any]]) -> Stats:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return asyncio.run(_worker(*args))


def run(
    url: str,
    queue: str,
    *,
    connections: int = 64,
    processes: int = 2,
    duration: float = 5.0,
    items: int = 0,
    count: int = 0,
    lease: float = 0.0,
) -> dict[str, Any]:
    """Load `url` from `processes` processes; return deliveries, rps, p50/p99 and errors.

    With `count`, each connection streams through standing wants of `count` items
    (and with `lease`, leases and acks every item)."""
    options: dict[str, Any] = {}
    if count:
        options["count"] = count
    if lease:
        options["lease"] = lease
    processes = max(1, min(processes, connections))
    shares = [connections // processes + (i < connections % processes) for i in range(processes)]
    quota = items // connections if items else sys.maxsize
    start_at = time.time() + 1.0 + 0.02 * connections  # time to connect everywhere
    jobs = [(url, queue, share, quota, start_at, duration, options) for share in shares]
    with multiprocessing.Pool(processes) as pool:
        results = pool.map(_process, jobs)
    latencies = sorted(value for stats in results for value in stats.latencies_us)
    seconds = max(stats.elapsed for stats in results) or duration

    def percentile_ms(q: float) -> float:
        return latencies[int(q * (len(latencies) - 1))] / 1000 if latencies else 0.0

    delivered = sum(stats.delivered for stats in results)
    return {
        "requests": delivered,
        "seconds": seconds,
        "rps": delivered / seconds,
        "p50_ms": percentile_ms(0.50),
        "p99_ms": percentile_ms(0.99),
        "errors": sum(stats.errors for stats in results),
        "stalled": sum(stats.stalled for stats in results),
        "first_error": next((s.first_error for s in results if s.first_error), ""),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("queue")
    parser.add_argument("--items", type=int, default=0, help="items in the queue (0: no limit)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    result = run(
        args.url,
        args.queue,
        connections=args.connections,
        processes=args.processes,
        duration=args.duration,
        items=args.items,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
