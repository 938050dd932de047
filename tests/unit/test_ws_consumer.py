"""The WebSocket consumer's message handling when the peer is already gone: an answer
that cannot be written must not stop the handler, so what the peer sent before it
went away (an ack) still counts."""

from __future__ import annotations

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
