"""Consumer throughput: items per second that `AsyncClient.consume` hands to a loop
body that does nothing, against raw WebSocket streaming measured in the same run.

Both sides use one connection, one process each (uvloop, as ws_load.py) and the same
flow control: up to PREFETCH items on their way, topped up with a counted want each
time a quarter of them arrived, and with a lease each item acked (without waiting for
the reply) as it is handled. The reference does that with bare aiohttp frames; the
client row is `async for item in client.consume(queue, lease=..., prefetch=PREFETCH)`.
The ratio is what the client library costs on top of the protocol.

Run alone: python bench/consumer.py [--duration 5]   (starts its own server)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import time
from typing import Any

import aiohttp
import orjson
from fill import create_queue, delete_queue, fill
from table import Row, format_table, set_ratios
from wrkrun import Load

PREFETCH = 100
#: Items queued per second of a row: more than either side consumes, so none runs dry.
ITEMS_PER_SECOND = 60_000


async def _consume(
    url: str, queue: str, items: int, duration: float, lease: float
) -> dict[str, Any]:
    from disqueue.client import AsyncClient

    clock = _Clock(items, duration)
    async with AsyncClient(url) as client:
        consumer = client.consume(queue, lease=lease or None, prefetch=PREFETCH, stop_signals=())
        async with consumer:
            async for _item in consumer:
                if clock.tick():
                    break
    return clock.result()


async def _raw(url: str, queue: str, items: int, duration: float, lease: float) -> dict[str, Any]:
    """The reference: the consumer's flow control written with bare WebSocket frames."""
    clock, sequence = _Clock(items, duration), 0
    base = {"queue": queue, **({"lease": lease} if lease else {})}
    ws_url = url.replace("http://", "ws://", 1) + "/take/ws"
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:

        async def want(count: int) -> None:
            nonlocal sequence
            sequence += 1
            frame = {**base, "identifier": f"w{sequence}", "count": count}
            await ws.send_str(orjson.dumps(frame).decode())

        await want(PREFETCH)
        coming = PREFETCH
        async for message in ws:
            payload = orjson.loads(message.data)["payload"]
            if "item" not in payload:
                continue  # the reply to an ack
            if lease:
                ack = {"op": "ack", "identifier": f"a{clock.handled}", "queue": queue}
                await ws.send_str(orjson.dumps({**ack, "id": payload["item"]["id"]}).decode())
            coming -= 1
            if PREFETCH - coming >= PREFETCH // 4:
                await want(PREFETCH - coming)
                coming = PREFETCH
            if clock.tick():
                break
    return clock.result()


class _Clock:
    """Items handled and the time they took, from the first item on (connecting is not
    consuming); `tick()` says when `items` or `duration` is reached."""

    def __init__(self, items: int, duration: float) -> None:
        self.items, self.duration = items, duration
        self.handled, self.started, self.elapsed = 0, 0.0, 0.0

    def tick(self) -> bool:
        now = time.perf_counter()
        if not self.started:
            self.started = now
            return False
        self.handled += 1
        self.elapsed = now - self.started
        return self.handled + 1 >= self.items or self.elapsed >= self.duration

    def result(self) -> dict[str, Any]:
        """A result in ws_load's shape, for `Row.from_ws`."""
        return {
            "requests": self.handled,
            "seconds": self.elapsed or self.duration,
            "p50_ms": 0.0,
            "p99_ms": 0.0,
            "errors": 0,
            "stalled": 0,
            "first_error": "",
        }


def _process(args: tuple[str, str, str, int, float, float]) -> dict[str, Any]:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    side, url, queue, items, duration, lease = args
    run = _raw if side == "raw" else _consume
    return asyncio.run(run(url, queue, items, duration, lease))


def measure(
    side: str, url: str, queue: str, items: int, duration: float, lease: float
) -> dict[str, Any]:
    """Run one side ("raw" or "client") in a process of its own."""
    with multiprocessing.Pool(1) as pool:
        result: dict[str, Any] = pool.apply(_process, ((side, url, queue, items, duration, lease),))
    return result


def consumer_rows(base: str, load: Load, rows: list[Row]) -> None:
    """Append, with a lease and without, the raw streaming reference and the client row."""
    items = int(ITEMS_PER_SECOND * load.duration)
    for label, lease in (("lease=30 + ack", 30.0), ("no lease", 0.0)):
        reference = f"reference: raw ws consumer, {label}"
        for side, name in (("raw", reference), ("client", f"client.consume, {label}")):
            queue = create_queue(base)
            fill(base, queue, items, load)
            result = measure(side, base, queue, items, load.duration, lease)
            rows.append(Row.from_ws(name, result, None if side == "raw" else reference))
            delete_queue(base, queue)


def main() -> None:
    from run import disqueue_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per row")
    args = parser.parse_args()
    rows: list[Row] = []
    with disqueue_server() as (base, server):
        load = Load(16, 1, args.duration, alive=lambda: server.poll() is None)
        consumer_rows(base, load, rows)
    set_ratios(rows)
    print(format_table(rows))


if __name__ == "__main__":
    main()
