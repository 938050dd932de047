"""`GET /take/ws`: consumers send wants, the server pushes one item per want.

Each connection is a `Consumer` of the core. Items chosen for it are queued in
an outbox and written by one sender task; an item that cannot be written (the
connection closed) is given back to the core, which offers it to the next
want or puts it back at the front of its queue. When the connection closes,
its pending wants are cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from disqueue.core import QueueService, Want
from disqueue.errors import InvalidQueueId, QueueNotFound
from disqueue.models import Item
from disqueue.server.envelope import failure_body
from disqueue.server.state import CONNECTIONS, MAX_MESSAGE, SERVICE

log = logging.getLogger("disqueue.websocket")

#: Seconds between pings; a peer that does not answer is dropped and its wants cancelled.
HEARTBEAT = 30.0


class WebSocketConsumer:
    """One WebSocket connection: its pending wants and the items on their way to it."""

    def __init__(self, ws: web.WebSocketResponse, service: QueueService) -> None:
        self.ws = ws
        self.service = service
        self.wants: set[Want] = set()
        self.outbox: deque[tuple[Want, Item, asyncio.Future[None] | None]] = deque()
        self.sender: asyncio.Task[None] | None = None
        self.open = True

    def deliver(self, want: Want, item: Item, receipt: asyncio.Future[None] | None) -> bool:
        if not self.open or self.ws.closed:
            return False
        self.wants.discard(want)
        self.outbox.append((want, item, receipt))
        if self.sender is None:
            self.sender = asyncio.get_running_loop().create_task(self._send_outbox())
        return True

    async def _send_outbox(self) -> None:
        try:
            while self.outbox and self.open:
                want, item, receipt = self.outbox[0]
                payload = {"id": want.identifier, "item": item.to_wire()}
                frame = orjson.dumps({"success": True, "message": None, "payload": payload})
                try:
                    await self.ws.send_str(frame.decode())
                except (ConnectionError, RuntimeError):
                    self.open = False
                    break
                self.outbox.popleft()
                if receipt is not None and not receipt.done():
                    receipt.set_result(None)
        finally:
            self.sender = None
        await self._give_back_outbox()

    async def _give_back_outbox(self) -> None:
        """Return every item not yet written, once the connection can take no more."""
        if self.open:
            return
        while self.outbox:
            want, item, receipt = self.outbox.popleft()
            try:
                await self.service.give_back(want.queue, item, receipt)
            except Exception as exc:
                log.error("item %s could not be given back: %s", item.id, exc)
                if receipt is not None and not receipt.done():
                    receipt.set_exception(exc)

    async def send_error(self, message: str) -> None:
        if not self.ws.closed:
            await self.ws.send_str(failure_body(message).decode())

    async def handle(self, text: str) -> None:
        """One client message: a want, or an error answer."""
        try:
            message: Any = orjson.loads(text)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict):
            return await self.send_error("failed to read message")
        identifier = message.get("identifier")
        queue = message.get("queue")
        key = message.get("key")
        if identifier is None or identifier == "":
            return await self.send_error("no identifier")
        if queue is None or queue == "":
            return await self.send_error("no queue")
        if not isinstance(queue, str):
            return await self.send_error("queue not found")
        if key is not None and not isinstance(key, str):
            return await self.send_error("failed to read message")
        try:
            want = await self.service.want(self, identifier, queue, key)
        except (InvalidQueueId, QueueNotFound):
            return await self.send_error("queue not found")
        if self.service.wants.pending(want):
            self.wants.add(want)

    async def close(self) -> None:
        """The connection is gone: cancel its wants, give back what it did not get."""
        self.open = False
        for want in self.wants:
            self.service.cancel(want)
        self.wants.clear()
        if self.sender is None:
            await self._give_back_outbox()


async def take_ws(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=request.app[MAX_MESSAGE])
    await ws.prepare(request)
    consumer = WebSocketConsumer(ws, request.app[SERVICE])
    connections = request.app[CONNECTIONS]
    connections.add(consumer)
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await consumer.handle(message.data)
            elif message.type == WSMsgType.BINARY:
                await consumer.send_error("failed to read message")
    finally:
        connections.discard(consumer)
        await consumer.close()
    return ws


async def close_all(app: web.Application) -> None:
    """On shutdown: close every WebSocket of the listener with 1001 (going away)."""
    connections = app[CONNECTIONS]
    consumers = [*connections]
    await asyncio.gather(
        *(c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown") for c in consumers),
        return_exceptions=True,
    )
