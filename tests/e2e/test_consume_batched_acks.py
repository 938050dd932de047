"""The Python consumer acks the items the loop moved on from in batches of receipts
(API.md Part 3), each receipt once; a receipt the server no longer knows is reported."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import orjson
import pytest

from disqueue.client import AsyncClient

from .helpers import Server

ITEMS = 50


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every frame a client WebSocket in this process sends, decoded."""
    frames: list[dict[str, Any]] = []
    original = aiohttp.ClientWebSocketResponse.send_str

    async def recording(self: aiohttp.ClientWebSocketResponse, data: str, **kw: Any) -> None:
        frames.append(orjson.loads(data))
        await original(self, data, **kw)

    monkeypatch.setattr(aiohttp.ClientWebSocketResponse, "send_str", recording)
    return frames


async def _all_on_hand(consumer: Any, count: int) -> None:
    while len(consumer._buffer) < count:  # every item delivered before the loop starts
        consumer._ready.clear()
        await consumer._ready.wait()


def _acked(frames: list[dict[str, Any]]) -> list[list[str]]:
    return [f.get("receipts", [f.get("receipt")]) for f in frames if f.get("op") == "ack"]


async def test_acks_go_in_batches_each_receipt_once(
    open_server: Server, sent: list[dict[str, Any]]
) -> None:
    """Items handled one after another are acked in batch frames; every delivery's
    receipt is acked exactly once, and the server counts every item acked."""
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        await client.put_many(queue, [f"v{n}" for n in range(ITEMS)])
        receipts = []
        async with client.consume(queue, prefetch=ITEMS) as consumer:
            await asyncio.wait_for(_all_on_hand(consumer, ITEMS), 10)
            async for item in consumer:
                receipts.append(item.item.receipt)
                if len(receipts) == ITEMS:
                    await item.ack()
                    break
        info = await client.info(queue)
    batches = _acked(sent)
    assert sorted(r for batch in batches for r in batch) == sorted(receipts)
    assert max(len(batch) for batch in batches) > 1
    assert (info.size, info.in_flight, info.acked) == (0, 0, ITEMS)


async def test_a_receipt_missing_from_a_batch_is_reported(
    open_server: Server, sent: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    """An item acked elsewhere meanwhile: the batch that names its receipt acks the
    others, and the consumer logs that receipt as no longer leased."""
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        await client.put_many(queue, [f"v{n}" for n in range(5)])
        gone = None
        with caplog.at_level(logging.WARNING, logger="disqueue.client"):
            async with client.consume(queue, prefetch=5) as consumer:
                await asyncio.wait_for(_all_on_hand(consumer, 5), 10)
                async for item in consumer:
                    if item.value == "v2":
                        gone = item.item.receipt
                        await client.ack(queue, item.item)  # over HTTP: the lease ends here
                    if item.value == "v4":
                        await item.ack()
                        break
            info = await client.info(queue)
    assert gone is not None and any(gone in batch for batch in _acked(sent))
    assert any(gone in record.getMessage() for record in caplog.records), caplog.text
    assert (info.in_flight, info.acked) == (0, 5)
