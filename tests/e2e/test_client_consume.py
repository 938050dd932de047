"""`consume()`: the worker's stream over the WebSocket, with leases, prefetch,
release on exceptions, reconnect across a server restart, and a graceful SIGTERM."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import trustme

from disqueue.client import AsyncClient, Client, ConnectionFailed, QueueNotFound

from .conftest import StartServer
from .helpers import PYTHON, Api, Server, launch, signal_after_first_line, wait_until

MISSING = "00000000-0000-4000-8000-000000000000"


def settled(api: Api, queue: str, size: int, acked: int) -> bool:
    """The queue holds `size` ready items, none in flight, and `acked` were acked."""
    info = api.info(queue)
    return (info["size"], info["in_flight"], info["acked"]) == (size, 0, acked)


async def test_consume_acks_each_item_when_the_body_finishes(open_server: Server) -> None:
    """Every item arrives once, in order, and is acked as the loop moves on."""
    values = [f"v{n}" for n in range(300)]
    seen: list[str] = []
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        await client.put_many(queue, values)
        async with client.consume(queue, prefetch=25) as items:
            async for item in items:
                assert item.attempts == 1 and item.id is not None
                seen.append(item.value)
                if len(seen) == len(values):
                    await item.ack()  # a break alone releases the item in hand
                    break
        info = await client.info(queue)
        for _ in range(100):  # the server notices the closed connection a moment later
            if info.consumers == 0:
                break
            await asyncio.sleep(0.05)
            info = await client.info(queue)
    assert seen == values
    assert (info.size, info.in_flight, info.acked, info.consumers) == (0, 0, 300, 0)


async def test_consume_keyed_and_at_most_once(open_server: Server) -> None:
    """A key filters the items; lease=None takes them without acks."""
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        await client.put_many(queue, [("a", "k"), ("b", None), ("c", "K")])
        got = []
        async for item in client.consume(queue, "k", lease=None, prefetch=1):
            assert item.lease_expires is None
            got.append(item.value)
            if len(got) == 2:
                break
        info = await client.info(queue)
    assert got == ["a", "c"]
    assert (info.size, info.taken, info.acked) == (1, 2, 0)


async def test_handler_that_raises_is_released_and_redelivered(open_server: Server) -> None:
    """`async with item:` releases on an exception; the item comes again, attempts + 1."""
    handled: list[tuple[str, int | None]] = []
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        await client.put_many(queue, ["bad", "good"])
        async for item in client.consume(queue, prefetch=10):
            handled.append((item.value, item.attempts))
            try:
                async with item:
                    if item.value == "bad" and item.attempts == 1:
                        raise ValueError("handler failed")
            except ValueError:
                continue
            if len(handled) == 3:
                break
    # Leaving the client closed the consumer, once its acks were answered.
    with Api(open_server.url) as api:
        info = api.info(queue)
    assert sorted(handled) == [("bad", 1), ("bad", 2), ("good", 1)]
    assert (info["size"], info["in_flight"], info["acked"]) == (0, 0, 2)


async def test_exception_leaving_the_consumer_releases_the_item(open_server: Server) -> None:
    """An exception out of `async with consumer:` releases the item in hand and the
    prefetched ones; nothing is lost."""
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        await client.put_many(queue, ["one", "two", "three"])
        with pytest.raises(RuntimeError):  # noqa: PT012 - the exception leaves both blocks
            async with client.consume(queue, prefetch=3) as items:
                async for _item in items:
                    raise RuntimeError("worker crashed")
        with Api(open_server.url) as api:
            await asyncio.to_thread(wait_until, lambda: settled(api, queue, 3, 0))
        again = await client.take(queue, lease=5, count=3)
    # Each was delivered once (leased), each went back: released items go to the front.
    assert sorted((item.value, item.attempts) for item in again) == [
        ("one", 2), ("three", 2), ("two", 2),
    ]  # fmt: skip


async def test_message_ack_release_touch(open_server: Server) -> None:
    """Explicit ack (answered), release with a delay, and touch over the WebSocket."""
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        await client.put_many(queue, ["x", "y"])
        consumer = client.consume(queue, lease=10, prefetch=2)
        first = await anext(consumer)
        expires = await first.touch(300)
        assert first.lease_expires is not None and expires > first.lease_expires
        await first.ack()
        second = await anext(consumer)
        await second.release(delay=60)
        await consumer.aclose()
        info = await client.info(queue)
    assert (first.value, second.value) == ("x", "y")
    assert (info.size, info.delayed, info.in_flight, info.acked) == (0, 1, 0, 1)


async def test_missing_queue_raises(open_server: Server) -> None:
    """Consuming a queue that does not exist raises QueueNotFound."""
    async with AsyncClient(open_server.url) as client:
        with pytest.raises(QueueNotFound):
            async for _item in client.consume(MISSING):
                pass


def test_sync_consume(open_server: Server) -> None:
    """`Client.consume`: acked as the loop moves on, released when the block raises."""
    with Client(open_server.url) as client:
        queue = client.create_queue()
        client.put_many(queue, ["a", "b", "c"])
        seen = []
        with client.consume(queue, prefetch=2) as items:
            for item in items:
                seen.append(item.value)
                if item.value == "b" and item.attempts == 1:
                    with pytest.raises(KeyError), item:
                        raise KeyError("b failed")
                if len(seen) == 4:
                    item.ack()  # a break alone releases the item in hand
                    break
        info = client.info(queue)
    assert seen[:2] == ["a", "b"] and sorted(seen[2:]) == ["b", "c"]
    assert (info.size, info.in_flight, info.acked) == (0, 0, 3)


async def test_consume_across_a_server_restart(tmp_path: Path) -> None:
    """The consumer reconnects to a restarted server (SQLite: items survive), sends its
    wants again and gets every item; only those in flight at the restart come twice."""
    directory = tmp_path / "server"
    server = launch(directory, {"storage": {"type": "sqlite"}})
    values = [f"v{n}" for n in range(400)]
    seen: list[str] = []
    prefetch = 20
    try:
        async with AsyncClient(server.url) as client:
            queue = await client.create_queue()
            await client.put_many(queue, values)
            async with client.consume(queue, prefetch=prefetch) as items:
                async for item in items:
                    seen.append(item.value)
                    if len(seen) == 100:  # restart mid-stream, this item in hand
                        server.stop()
                        server = await asyncio.to_thread(launch, directory, server.config)
                    if set(seen) == set(values):
                        await item.ack()
                        break
                connections = items.connections
            info = await client.info(queue)
    finally:
        server.shutdown()
    assert connections >= 2
    assert set(seen) == set(values)
    assert len(seen) - len(values) <= prefetch + 1  # at-least-once: only those in flight
    assert seen[:100] == values[:100]
    assert (info.size, info.in_flight) == (0, 0)


WORKER = """
import asyncio, sys
from disqueue.client import AsyncClient, Client

url, queue, mode = sys.argv[1:]

async def main():
    async with AsyncClient(url) as client:
        async for item in client.consume(queue, prefetch=5):
            print("got", item.value, flush=True)
            await asyncio.sleep(0.3)  # work in progress when SIGTERM comes
            print("done", item.value, flush=True)

def main_sync():
    with Client(url) as client, client.consume(queue, prefetch=5) as items:
        for item in items:
            print("got", item.value, flush=True)
            import time; time.sleep(0.3)
            print("done", item.value, flush=True)

asyncio.run(main()) if mode == "async" else main_sync()
print("stopped", flush=True)
"""


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_sigterm_stops_gracefully(open_server: Server, tmp_path: Path, mode: str) -> None:
    """SIGTERM to a worker: the item in hand is finished and acked, the loop ends, the
    prefetched items go back to the queue, the process exits 0."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    with Api(open_server.url) as api:
        queue = api.new_queue()
        for n in range(10):
            api.put(queue, f"job-{n}")
        command = [PYTHON, str(script), open_server.url, queue, mode]
        status, out, err = signal_after_first_line(command, "got job-0")
        assert status == 0, err
        assert out.splitlines() == ["done job-0", "stopped"], (out, err)
        wait_until(lambda: settled(api, queue, 9, 1), what="9 queued, 1 acked")
        assert sorted(api.drain(queue)) == sorted(f"job-{n}" for n in range(1, 10))


async def test_tls_with_ca_file_and_client_certificate(
    start_server: StartServer, ca: trustme.CA, tls_files: dict[str, bytes], tmp_path: Path
) -> None:
    """https and wss with the CA to trust and a client certificate; refused without it."""
    (tmp_path / "ca.pem").write_bytes(tls_files["ca.pem"])
    ca.issue_cert("worker@example.org").private_key_and_cert_chain_pem.write_to_path(
        str(tmp_path / "client.pem")
    )
    security = {"certificate": "cert.pem", "privatekey": "key.pem", "client_ca": "ca.pem"}
    server = start_server(
        {"servers": [{"security": security}]}, files=tls_files, client_cert=tmp_path / "client.pem"
    )
    tls: dict[str, Any] = {
        "ca_file": str(tmp_path / "ca.pem"),
        "cert": str(tmp_path / "client.pem"),
    }
    async with AsyncClient(server.url, **tls) as client:
        queue = await client.create_queue()
        await client.put(queue, "secret")
        async for item in client.consume(queue):
            assert item.value == "secret"
            break
    with Client(server.url, ca_file=tls["ca_file"]) as client, pytest.raises(ConnectionFailed):
        client.queues()  # no client certificate
    with Client(server.url, cert=tls["cert"]) as client, pytest.raises(ConnectionFailed):
        client.queues()  # the server's CA is not trusted
