"""What ends a leased item's lease in a consume loop, row by row as the README's table
"What ends a lease in a consume loop" says, for the sync and the async client
(clients/typescript/test/semantics.test.ts pins the same rows for TypeScript)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from disqueue.client import AsyncClient, Client

from .helpers import Api, Server, wait_until


def state(server: Server, queue: str) -> tuple[int, int, int]:
    """(ready, in flight, acked) of the queue."""
    with Api(server.url) as api:
        info = api.info(queue)
    return info["size"], info["in_flight"], info["acked"]


def eventually(server: Server, queue: str, expected: tuple[int, int, int]) -> None:
    """Wait until the queue's (ready, in flight, acked) are `expected` (the server
    releases a closed connection's leases as it notices the close)."""
    wait_until(lambda: state(server, queue) == expected, timeout=5, what=str(expected))


def next_attempts(server: Server, queue: str) -> int | None:
    """How often the queue's next item has been delivered, delivering it once more."""
    with Client(server.url) as client:
        return client.take(queue, lease=5).attempts


async def test_ack_acks_at_once(open_server: Server) -> None:
    """`await item.ack()` acks the item in hand before the loop goes on."""
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        await client.put(queue, "a")
        async with client.consume(queue, lease=30) as items:
            async for item in items:
                await item.ack()
                assert await asyncio.to_thread(state, open_server, queue) == (0, 0, 1)
                break
    assert state(open_server, queue) == (0, 0, 1)


async def test_asking_for_the_next_item_acks_the_last(open_server: Server) -> None:
    """When the loop goes round, the item the body finished with is acked."""
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        await client.put_many(queue, ["a", "b"])
        async with client.consume(queue, lease=30, prefetch=1) as items:
            async for item in items:
                if item.value == "b":
                    await asyncio.to_thread(eventually, open_server, queue, (0, 1, 1))
                    await item.ack()
                    break
    assert state(open_server, queue) == (0, 0, 2)


@pytest.mark.parametrize("ending", ["break", "exception"])
async def test_break_or_exception_releases_the_item_in_hand(
    open_server: Server, ending: str
) -> None:
    """A `break`, or an exception out of the loop, gives the item back: it comes
    again, attempts 2, nothing acked."""
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        await client.put(queue, "a")
        raises = pytest.raises(LookupError) if ending == "exception" else contextlib.nullcontext()
        with raises:
            async with client.consume(queue, lease=30) as items:
                async for _item in items:
                    if ending == "exception":
                        raise LookupError("handler failed")
                    break
    eventually(open_server, queue, (1, 0, 0))
    assert next_attempts(open_server, queue) == 2


async def test_closing_releases_the_item_in_hand_and_the_prefetched(open_server: Server) -> None:
    """Closing the consumer inside the loop releases the item in hand and every
    prefetched one; the loop then ends."""
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        await client.put_many(queue, ["a", "b", "c"])
        seen = []
        consumer = client.consume(queue, lease=30, prefetch=3)
        async for item in consumer:
            seen.append(item.value)
            await asyncio.to_thread(eventually, open_server, queue, (0, 3, 0))
            await consumer.aclose()
    assert seen == ["a"]
    eventually(open_server, queue, (3, 0, 0))


@pytest.mark.parametrize("ending", ["break", "exception", "close"])
def test_sync_client_ends_leases_the_same_way(open_server: Server, ending: str) -> None:
    """`Client.consume`: going round acks; break, an exception and close release."""
    with Client(open_server.url) as client:
        queue = client.create_queue()
        client.put_many(queue, ["a", "b"])
        raises = pytest.raises(LookupError) if ending == "exception" else contextlib.nullcontext()
        with raises, client.consume(queue, lease=30, prefetch=1) as items:
            for item in items:
                if item.value == "a":
                    continue  # acked when the loop asks for "b"
                eventually(open_server, queue, (0, 1, 1))
                if ending == "break":
                    break
                if ending == "exception":
                    raise LookupError("handler failed")
                items.close()
    eventually(open_server, queue, (1, 0, 1))
    assert next_attempts(open_server, queue) == 2
