"""The WebSocket consumer's message handling when the peer is already gone: an answer
that cannot be written must not stop the handler, so what the peer sent before it
went away (an ack) still counts."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from aiohttp import web

from disqueue.config import Limits
from disqueue.core import QueueNames, QueueService
from disqueue.models import NewItem
from disqueue.server.websocket import WebSocketConsumer
from disqueue.storage.embedded.memory import MemoryStorage


class GoneSocket:
    """Stands in for aiohttp's socket of a peer that went away: not yet marked closed,
    but every write fails as aiohttp's does on a closing transport."""

    closed = False

    async def send_str(self, data: str) -> None:
        raise ConnectionResetError("Cannot write to closing transport")


async def test_acks_received_before_the_peer_left_count() -> None:
    service = QueueService(MemoryStorage(), QueueNames(), Limits())
    queue = await service.create_queue()
    for value in "abc":
        await service.put(queue, NewItem(value))
    items = await service.take_many(queue, count=3, lease=60)
    consumer = WebSocketConsumer(cast(web.WebSocketResponse, GoneSocket()), service, None)
    for item in items:  # each answer fails to be written; the next ack is still handled
        message: dict[str, Any] = {"op": "ack", "identifier": item.id, "queue": queue}
        await consumer.receive(json.dumps({**message, "id": item.id}))
    await consumer.drain()  # messages are pipelined: the handler drains before it closes
    info = await service.info(queue)
    assert (info["in_flight"], info["acked"]) == (0, 3)
    assert consumer.open is False  # nothing more is delivered to it


class Transport:
    """Records what is written to it; `closing` as a transport whose peer went away."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        self.writes.append(data)


class OpenSocket:
    """aiohttp's socket of a connection without compression; `send_str` is aiohttp's
    own frame writing, which the consumer leaves to frames it cannot write itself."""

    closed = False
    compress = 0

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_str(self, data: str) -> None:
        self.sent.append(data)


def text_frames(data: bytes) -> list[Any]:
    """The payloads of the unmasked text frames that `data` holds, whole, in order."""
    payloads = []
    while data:
        assert data[0] == 0x81  # final text frame
        size, start = data[1], 2
        if size == 126:
            size, start = int.from_bytes(data[2:4], "big"), 4
        elif size == 127:
            size, start = int.from_bytes(data[2:10], "big"), 10
        payloads.append(json.loads(data[start : start + size]))
        data = data[start + size :]
    return payloads


async def consumer_with_items(
    values: str,
) -> tuple[WebSocketConsumer, str, Transport, OpenSocket]:
    """A consumer on a recording transport, and a queue holding `values`."""
    service = QueueService(MemoryStorage(), QueueNames(), Limits())
    queue = await service.create_queue()
    for value in values:
        await service.put(queue, NewItem(value))
    socket, transport = OpenSocket(), Transport()
    ws, writer = cast(web.WebSocketResponse, socket), cast(Any, transport)
    return WebSocketConsumer(ws, service, writer), queue, transport, socket


async def settle_loop() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_items_of_a_want_are_written_at_once_in_order() -> None:
    """One write for the items a want gets together (not a write, and so a system call,
    per item); each is its own text frame, in the queue's order."""
    consumer, queue, transport, socket = await consumer_with_items("abcdefghij")
    await consumer.receive(json.dumps({"identifier": "w", "queue": queue, "count": 10}))
    await consumer.drain()
    await settle_loop()
    assert len(transport.writes) == 1 and not socket.sent
    frames = text_frames(transport.writes[0])
    assert [frame["payload"]["item"]["value"] for frame in frames] == list("abcdefghij")
    assert {frame["payload"]["id"] for frame in frames} == {"w"}


async def test_answers_and_items_keep_the_order_of_the_messages() -> None:
    """An ack's answer and the items of the want sent after it leave in that order,
    written together."""
    consumer, queue, transport, socket = await consumer_with_items("abcd")
    first = await consumer.service.take_many(queue, count=2, lease=60)
    receipts = [item.receipt for item in first]
    ack = {"op": "ack", "identifier": "a", "queue": queue, "receipts": receipts}
    await consumer.receive(json.dumps(ack))
    await consumer.receive(json.dumps({"identifier": "w", "queue": queue, "count": 2}))
    await consumer.drain()
    await settle_loop()
    frames = text_frames(b"".join(transport.writes))
    assert frames[0]["payload"] == {"id": "a", "done": 2, "missing": []}
    assert [frame["payload"]["item"]["value"] for frame in frames[1:]] == ["c", "d"]
    assert not socket.sent


async def test_items_not_written_before_the_connection_went_back_in_order() -> None:
    """Items buffered for a connection that closed before they were written are given
    back to the front of the queue, in their order, as when aiohttp's write fails."""
    consumer, queue, transport, _ = await consumer_with_items("abcde")
    consumer.handling = 1  # as inside a message handler: the items wait in the outbox
    want = await consumer.service.want(consumer, "w", queue, None, count=3)
    assert want is None and len(consumer.outbox) == 3
    assert consumer._write_outbox()  # buffered, not yet written
    transport.closing = True  # the peer went away meanwhile
    consumer.flush()
    await consumer.close()
    assert transport.writes == []
    again = await consumer.service.take_many(queue, count=5)
    assert [item.value for item in again] == list("abcde")


async def test_frames_go_through_aiohttp_when_compression_was_negotiated() -> None:
    """With permessage-deflate the frames are aiohttp's to write (compressed)."""
    consumer, queue, transport, socket = await consumer_with_items("ab")
    socket.compress = 15  # type: ignore[misc]
    await consumer.receive(json.dumps({"identifier": "w", "queue": queue, "count": 2}))
    await consumer.drain()
    await settle_loop()
    assert transport.writes == []
    assert [json.loads(text)["payload"]["item"]["value"] for text in socket.sent] == ["a", "b"]
