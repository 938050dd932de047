"""Disqueue beside the brokers people would pick instead, each durable and acknowledged.

One workload for every system, each through its own Python client (uvloop, one
process for the load, apart from the server): ITEMS items of 100 bytes

- produce: one producer, batches of 1000 (Disqueue `put_many`; Redis a pipeline of
  XADD; RabbitMQ 1000 publishes then their confirms; NATS 1000 `publish` awaited
  together; PostgreSQL one INSERT of 1000 rows);
- consume + ack: one consumer, up to 100 items on their way, every item acknowledged
  (Disqueue the README's worker, `client.consume(queue, lease=30, prefetch=100)`);
- put -> delivered: one item put while a consumer waits, the time to its delivery.

Every system runs `--rounds` times (default 2), rounds alternating system by system, and
each figure is the median of the rounds. Disqueue runs on the durable default (SQLite,
`sync: full`), its data on the real disk under bench/results/; `--disqueue LABEL=DIR`
(repeatable) runs the server and the client of another checkout as a row of its own
(`--disqueue before=/tmp/old --disqueue after=.` compares two versions in one run).
`--consumers N` (default 8) adds a row of N consumers on N connections sharing the
load; `--postgres-backend` adds Disqueue on its PostgreSQL storage, one node and two
(puts to one node, the consumer on the other).

Peers, where this machine has them (a missing one is skipped with the reason printed):
Redis (a private `redis-server`, AOF `appendfsync always`), RabbitMQ (the running
broker, guest/guest: durable queue, persistent messages, publisher confirms), NATS
JetStream (the running server: a file-store stream, its default fsync), PostgreSQL (the
running server, database `test`: a `FOR UPDATE SKIP LOCKED` table queue, synchronous
commit). Clients: the `bench` extra of pyproject.toml.

Run alone: .venv/bin/python bench/peers.py [--items 100000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from procs import free_port, running, worker_result

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VALUE = "v" * 100
BATCH = 1000
PREFETCH = 100
#: Consumers of the Disqueue rows, each on its own connection (`Disqueue(consumers=)`).
CONSUMERS = int(os.environ.get("PEERS_CONSUMERS", "1"))
PG_DSN = os.environ.get("DISQUEUE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

# -- the load, run in a process of its own: `peers.py --worker SYSTEM URL ITEMS SAMPLES` --


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1000, ordered[int(len(ordered) * 0.99)] * 1000


async def _disqueue(url: str, items: int, samples: int) -> dict[str, float]:
    from disqueue.client import AsyncClient

    # With two nodes (`url1,url2`) the puts go to the first and the consumers to the last.
    urls = url.split(",")
    async with AsyncClient(urls[0]) as client, AsyncClient(urls[-1]) as reader:
        queue = str(uuid.uuid4())
        await client.create_queue(queue)
        started = time.perf_counter()
        await client.put_many(queue, [VALUE] * items)
        produce = items / (time.perf_counter() - started)
        handled, first, done = 0, 0.0, asyncio.Event()

        consumers = [
            reader.consume(queue, lease=30, prefetch=PREFETCH, stop_signals=())
            for _ in range(CONSUMERS)
        ]

        async def run(consumer: Any) -> None:
            nonlocal handled, first
            async for _item in consumer:
                first = first or time.perf_counter()
                handled += 1
                if handled >= items:
                    done.set()
                    break

        tasks = [asyncio.create_task(run(consumer)) for consumer in consumers]
        await done.wait()
        consume = (items - 1) / (time.perf_counter() - first)
        for consumer in consumers:
            consumer.stop()  # those waiting for items that will not come
        await asyncio.gather(*tasks)
        await client.delete_queue(queue)

        latency = str(uuid.uuid4())
        await client.create_queue(latency)
        arrived: asyncio.Queue[float] = asyncio.Queue()

        async def worker() -> None:
            async for _item in reader.consume(latency, lease=30, prefetch=1, stop_signals=()):
                arrived.put_nowait(time.perf_counter())

        task = asyncio.create_task(worker())
        await asyncio.sleep(0.5)  # the want is waiting
        times = []
        for _ in range(samples):
            sent = time.perf_counter()
            await client.put(latency, VALUE)
            times.append(await arrived.get() - sent)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.delete_queue(latency)
    return _result(produce, consume, times)


def _result(produce: float, consume: float, times: list[float]) -> dict[str, float]:
    p50, p99 = _percentiles(times)
    return {"produce": produce, "consume": consume, "p50_ms": p50, "p99_ms": p99}


async def _redis(url: str, items: int, samples: int) -> dict[str, float]:
    import redis.asyncio as redis

    client = redis.Redis.from_url(url)
    stream, group = f"s-{uuid.uuid4()}", "g"
    await client.xgroup_create(stream, group, id="0", mkstream=True)
    started = time.perf_counter()
    for _ in range(items // BATCH):
        pipe = client.pipeline(transaction=False)
        for _ in range(BATCH):
            pipe.xadd(stream, {"v": VALUE})
        await pipe.execute()
    produce = items / (time.perf_counter() - started)
    handled = 0
    while handled < items:
        reply = await client.xreadgroup(group, "c", {stream: ">"}, count=PREFETCH, block=1000)
        ids = [entry_id for _, entries in reply for entry_id, _ in entries]
        if handled == 0:
            started = time.perf_counter()
        handled += len(ids)
        await client.xack(stream, group, *ids)
    consume = (handled - 1) / (time.perf_counter() - started)
    await client.delete(stream)

    reader = redis.Redis.from_url(url)
    await client.xgroup_create(stream, group, id="$", mkstream=True)
    times = []
    for _ in range(samples):
        read = asyncio.create_task(
            reader.xreadgroup(group, "c", {stream: ">"}, count=1, block=5000)
        )
        await asyncio.sleep(0.002)  # the read is waiting
        sent = time.perf_counter()
        await client.xadd(stream, {"v": VALUE})
        reply = await read
        times.append(time.perf_counter() - sent)
        await client.xack(stream, group, reply[0][1][0][0])
    await client.delete(stream)
    await reader.aclose()
    await client.aclose()
    return _result(produce, consume, times)


async def _rabbitmq(url: str, items: int, samples: int) -> dict[str, float]:
    import aio_pika

    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=PREFETCH)
    queue = await channel.declare_queue(f"q-{uuid.uuid4()}", durable=True)
    body = VALUE.encode()

    def message() -> aio_pika.Message:
        return aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)

    started = time.perf_counter()
    for _ in range(items // BATCH):
        await asyncio.gather(
            *(channel.default_exchange.publish(message(), queue.name) for _ in range(BATCH))
        )
    produce = items / (time.perf_counter() - started)
    handled = 0
    async with queue.iterator() as messages:
        async for incoming in messages:
            if handled == 0:
                started = time.perf_counter()
            await incoming.ack()
            handled += 1
            if handled == items:
                break
    consume = (items - 1) / (time.perf_counter() - started)

    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def on_message(incoming: aio_pika.abc.AbstractIncomingMessage) -> None:
        arrived.put_nowait(time.perf_counter())
        await incoming.ack()

    await queue.consume(on_message)
    times = []
    for _ in range(samples):
        sent = time.perf_counter()
        await channel.default_exchange.publish(message(), queue.name)
        times.append(await arrived.get() - sent)
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()
    return _result(produce, consume, times)


async def _nats(url: str, items: int, samples: int) -> dict[str, float]:
    import nats
    from nats.js.api import StorageType, StreamConfig

    connection = await nats.connect(url)
    js = connection.jetstream()
    name = f"S{uuid.uuid4().hex}"
    subject = f"{name}.items"
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name}.>"], storage=StorageType.FILE))
    body = VALUE.encode()
    started = time.perf_counter()
    for _ in range(items // BATCH):
        await asyncio.gather(*(js.publish(subject, body) for _ in range(BATCH)))
    produce = items / (time.perf_counter() - started)
    subscription = await js.pull_subscribe(subject, durable="c")
    handled = 0
    while handled < items:
        for incoming in await subscription.fetch(PREFETCH, timeout=5):
            if handled == 0:
                started = time.perf_counter()
            await incoming.ack()
            handled += 1
    consume = (handled - 1) / (time.perf_counter() - started)

    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def on_message(incoming: Any) -> None:
        arrived.put_nowait(time.perf_counter())
        await incoming.ack()

    await js.subscribe(f"{name}.live", cb=on_message, manual_ack=True, stream=name)
    times = []
    for _ in range(samples):
        sent = time.perf_counter()
        await js.publish(f"{name}.live", body)
        times.append(await arrived.get() - sent)
    await js.delete_stream(name)
    await connection.close()
    return _result(produce, consume, times)


async def _postgres(url: str, items: int, samples: int) -> dict[str, float]:
    import asyncpg

    producer = await asyncpg.connect(url)
    consumer = await asyncpg.connect(url)
    table = f"peers_{uuid.uuid4().hex}"
    await producer.execute(
        f"CREATE TABLE {table} (id bigserial PRIMARY KEY, value text NOT NULL, "
        "lease_until timestamptz)"
    )
    insert = f"INSERT INTO {table} (value) SELECT unnest($1::text[])"
    lease = (
        f"UPDATE {table} SET lease_until = now() + interval '30 seconds' WHERE id IN "
        f"(SELECT id FROM {table} WHERE lease_until IS NULL OR lease_until < now() "
        "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id, value"
    )
    ack = f"DELETE FROM {table} WHERE id = ANY($1::bigint[])"
    try:
        started = time.perf_counter()
        for _ in range(items // BATCH):
            await producer.execute(insert, [VALUE] * BATCH)
        produce = items / (time.perf_counter() - started)
        handled = 0
        while handled < items:
            rows = await consumer.fetch(lease, PREFETCH)
            if handled == 0:
                started = time.perf_counter()
            handled += len(rows)
            await consumer.execute(ack, [row["id"] for row in rows])
        consume = (handled - 1) / (time.perf_counter() - started)

        # Waiting consumers LISTEN; the put notifies in its own transaction.
        woken: asyncio.Queue[None] = asyncio.Queue()
        await consumer.add_listener(table, lambda *_: woken.put_nowait(None))
        times = []
        for _ in range(samples):
            sent = time.perf_counter()
            async with producer.transaction():
                await producer.execute(f"INSERT INTO {table} (value) VALUES ($1)", VALUE)
                await producer.execute("SELECT pg_notify($1, '')", table)
            await woken.get()
            rows = await consumer.fetch(lease, 1)
            times.append(time.perf_counter() - sent)
            await consumer.execute(ack, [row["id"] for row in rows])
    finally:
        await producer.execute(f"DROP TABLE IF EXISTS {table}")
        await producer.close()
        await consumer.close()
    return _result(produce, consume, times)


WORKERS = {
    "disqueue": _disqueue,
    "redis": _redis,
    "rabbitmq": _rabbitmq,
    "nats": _nats,
    "postgres": _postgres,
}


def _worker(kind: str, url: str, items: int, samples: int) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    print("RESULT " + json.dumps(asyncio.run(WORKERS[kind](url, items, samples))), flush=True)


# -- the systems: where each one runs, and what makes it durable -----------------------


class Skip(Exception):
    """This system cannot run here; the message says why."""


class System:
    """One row: `serve()` yields the URL the worker connects to."""

    kind = ""
    durability = ""

    def __init__(self, label: str) -> None:
        self.label = label
        self.pythonpath: str | None = None

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        raise NotImplementedError
        yield ""


class Disqueue(System):
    kind = "disqueue"

    def __init__(
        self,
        label: str,
        checkout: Path,
        storage: dict[str, Any],
        nodes: int = 1,
        consumers: int = 1,
    ) -> None:
        super().__init__(label)
        self.consumers = consumers
        self.checkout = checkout
        self.storage = storage
        self.nodes = nodes
        sources = [checkout / "src", checkout / "clients" / "python" / "src"]
        self.pythonpath = os.pathsep.join(str(path) for path in sources)
        if storage["type"] == "sqlite":
            self.durability = "SQLite, sync: full (fsync per commit)"
        else:
            self.durability = f"PostgreSQL storage, {nodes} node(s), synchronous commit"

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        (BENCH / "results").mkdir(exist_ok=True)
        env = {**os.environ, "PYTHONPATH": self.pythonpath or ""}
        storage = dict(self.storage)
        schema = None
        if storage["type"] == "postgres":
            schema = f"peers_{uuid.uuid4().hex[:12]}"
            storage.update(dsn=PG_DSN, schema=schema)
        with (
            tempfile.TemporaryDirectory(dir=BENCH / "results") as folder,
            contextlib.ExitStack() as stack,
        ):
            ports = [free_port() for _ in range(self.nodes)]
            for index, port in enumerate(ports):
                config = {"servers": [{"hostname": "127.0.0.1", "port": port}], "storage": storage}
                path = Path(folder) / f"config{index}.json"
                path.write_text(json.dumps(config))
                cmd = [sys.executable, "-m", "disqueue", "-c", str(path)]
                stack.enter_context(running(cmd, f"http://127.0.0.1:{port}/health", env=env))
            try:
                # Two nodes share the schema: the worker puts on one, consumes on the other.
                yield ",".join(f"http://127.0.0.1:{port}" for port in ports)
            finally:
                if schema is not None:
                    _drop_schema(schema)


def _drop_schema(schema: str) -> None:
    with contextlib.suppress(Exception):
        subprocess.run(
            ["psql", PG_DSN, "-qc", f"DROP SCHEMA IF EXISTS {schema} CASCADE"],
            check=False,
            capture_output=True,
        )


class Redis(System):
    kind = "redis"
    durability = "streams, AOF appendfsync always (private redis-server)"

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        if shutil.which("redis-server") is None:
            raise Skip("redis-server is not installed")
        _module("redis")
        port = free_port()
        with tempfile.TemporaryDirectory(dir=BENCH / "results") as folder:
            cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", folder]
            cmd += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                _wait_port(port, proc)
                yield f"redis://127.0.0.1:{port}"
            finally:
                proc.terminate()
                proc.wait(10)


class Running(System):
    """A service this machine already runs at its default port."""

    module, port, url = "", 0, ""

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        _module(self.module)
        _listening(self.port, self.label)
        yield self.url


class RabbitMQ(Running):
    kind = "rabbitmq"
    durability = "durable queue, persistent messages, publisher confirms"
    module, port, url = "aio_pika", 5672, "amqp://guest:guest@127.0.0.1:5672/"


class Nats(Running):
    kind = "nats"
    durability = "JetStream file store (its default: fsync every 2 min)"
    module, port, url = "nats", 4222, "nats://127.0.0.1:4222"


class Postgres(Running):
    kind = "postgres"
    durability = "table queue, FOR UPDATE SKIP LOCKED, synchronous_commit on"
    module, port, url = "asyncpg", 5432, PG_DSN


def _module(name: str) -> None:
    try:
        __import__(name)
    except ImportError:
        raise Skip(f"Python module {name} missing (pip install -e '.[bench]')") from None


def _listening(port: int, what: str) -> None:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        raise Skip(f"no {what} listening on 127.0.0.1:{port}") from None


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Skip(f"the private server exited with status {proc.returncode}")
        with contextlib.suppress(Skip):
            _listening(port, "the private server")
            return
        time.sleep(0.05)
    raise Skip("the private server did not listen within 10 s")


def measure(system: System, items: int, samples: int) -> dict[str, float]:
    """One round of one system: its server up, the load in a process of its own."""
    with system.serve() as url:
        env = {**os.environ, "PEERS_CONSUMERS": str(getattr(system, "consumers", 1))}
        if system.pythonpath is not None:
            env["PYTHONPATH"] = system.pythonpath
        cmd = [sys.executable, str(Path(__file__)), "--worker", system.kind, url]
        cmd += [str(items), str(samples)]
        return worker_result(cmd, system.label, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=500, help="put -> delivered samples")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--disqueue", action="append", default=[], metavar="LABEL=DIR")
    parser.add_argument("--only", help="comma-separated kinds: disqueue,redis,rabbitmq,...")
    parser.add_argument("--postgres-backend", action="store_true")
    parser.add_argument(
        "--consumers", type=int, default=8, help="a Disqueue row with this many (1: none)"
    )
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, url, items, samples = args.worker
        return _worker(kind, url, int(items), int(samples))

    checkouts = [entry.split("=", 1) for entry in args.disqueue] or [["Disqueue", str(ROOT)]]
    systems: list[System] = [
        Disqueue(f"{label}, SQLite", Path(folder).resolve(), {"type": "sqlite"})
        for label, folder in checkouts
    ]
    if args.consumers > 1:  # (for each checkout: the one a change helps may be this one)
        for label, folder in checkouts:
            storage = {"type": "sqlite"}
            name = f"{label}, SQLite, {args.consumers} consumers"
            path = Path(folder).resolve()
            systems.append(Disqueue(name, path, storage, consumers=args.consumers))
    if args.postgres_backend:
        label, folder = checkouts[-1]
        for nodes in (1, 2):
            storage = {"type": "postgres"}
            systems.append(Disqueue(f"{label}, PostgreSQL x{nodes}", Path(folder), storage, nodes))
    systems += [
        Postgres("PostgreSQL table queue"),
        Nats("NATS JetStream"),
        Redis("Redis 7 streams"),
    ]
    systems.append(RabbitMQ("RabbitMQ"))
    if args.only:
        systems = [s for s in systems if s.kind in args.only.split(",")]
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    runs: dict[str, list[dict[str, float]]] = {s.label: [] for s in systems}
    skipped: dict[str, str] = {}
    for round_number in range(args.rounds):
        for system in systems if round_number % 2 == 0 else systems[::-1]:
            if system.label in skipped:
                continue
            try:
                result = measure(system, args.items, args.samples)
            except Skip as reason:
                skipped[system.label] = str(reason)
                print(f"skipped {system.label}: {reason}")
                continue
            runs[system.label].append(result)
            print(f"round {round_number + 1} {system.label}: " + json.dumps(result), flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(_table(systems, runs, skipped))


def _table(
    systems: list[System], runs: dict[str, list[dict[str, float]]], skipped: dict[str, str]
) -> str:
    medians = {
        label: {field: statistics.median(r[field] for r in results) for field in results[0]}
        for label, results in runs.items()
        if results
    }
    peers = [s.label for s in systems if s.kind != "disqueue" and s.label in medians]
    best = max(peers, key=lambda label: medians[label]["consume"], default=None)
    lines = [
        "| system | durable setting | produce items/s | consume + ack items/s "
        "| put -> delivered p50 / p99 | consume / best peer |",
        "|---|---|---|---|---|---|",
    ]
    for system in systems:
        if system.label in skipped:
            lines.append(f"| {system.label} | skipped: {skipped[system.label]} | | | | |")
            continue
        m = medians[system.label]
        ratio = f"{m['consume'] / medians[best]['consume']:.2f}x" if best else "-"
        lines.append(
            f"| {system.label} | {system.durability} | {m['produce']:,.0f} | "
            f"{m['consume']:,.0f} | {m['p50_ms']:.2f} ms / {m['p99_ms']:.2f} ms | {ratio} |"
        )
    if best:
        lines.append(f"\nbest durable peer for consume + ack: {best}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
