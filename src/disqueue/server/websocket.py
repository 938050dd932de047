"""`GET /take/ws`: consumers send wants, the server pushes items; Part 2 adds ops.

Each connection is a `Consumer` of the core. Items chosen for it are queued in
an outbox and written by one sender task; an item that cannot be written (the
connection closed) is given back to the core. When the connection closes, its
pending wants are cancelled and every lease it holds is released at once.

Messages are pipelined: on a storage that decides each action in memory before it
waits (`decides_at_once`: the embedded backends), the next message is started while
earlier ones wait for their commit, so a consumer's acks and wants share the writer's
group commits instead of paying one fsync each. Every answer is still written after
its action is done (committed), and in the order of the messages: each waits for the
answer before it. Elsewhere (PostgreSQL) a message is finished before the next starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections import deque
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from disqueue.auth.permissions import ACCESS, READ, Access
from disqueue.core import QueueService, Want, contract
from disqueue.core.contract import LeaseRef, parse_receipt
from disqueue.errors import BadRequest, DisqueueError, InvalidQueueId, QueueNotFound, TooMany
from disqueue.models import Item
from disqueue.server.actions import ACTIONS
from disqueue.server.envelope import failure_body
from disqueue.server.params import Params
from disqueue.server.state import CONNECTIONS, LIMITS, SERVICE

log = logging.getLogger("disqueue.websocket")

#: Seconds between pings; a peer that does not answer is dropped and its wants cancelled.
HEARTBEAT = 30.0
#: At shutdown, how long the messages in progress may take to be answered, and then how
#: long a connection may take to accept its close frame before it is cut.
CLOSE_TIMEOUT = 5.0
#: A connection with more than this many bytes waiting to be sent takes no hand-off.
HANDOFF_BACKLOG = 64 * 1024
#: How long a handed-off item may take to be written before the connection is cut and
#: the item given back: its put waits for it, and a consumer that stopped reading must
#: not hold a producer (seconds).
HANDOFF_PATIENCE = 5.0
#: At most this many messages of one connection in progress at once; reading waits
#: beyond it (so a fast peer cannot queue unbounded work).
PIPELINE = 256
#: At most this many items in one frame of a want with `"frames": "batch"`.
MAX_GROUP = 100


def _payload(payload: Any) -> bytes:
    return orjson.dumps({"success": True, "message": None, "payload": payload})


def _frame(payload: Any) -> str:
    return _payload(payload).decode()


def _text_frame(data: bytes) -> bytes:
    """One final, unmasked text frame (RFC 6455 section 5.2), as a server sends it."""
    size = len(data)
    if size < 126:
        return bytes((0x81, size)) + data
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + data
    return struct.pack("!BBQ", 0x81, 127, size) + data


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _failure(message: str, identifier: object = None) -> str:
    return failure_body(message, None if identifier is None else {"id": identifier}).decode()


def _is_identifier(value: object) -> bool:
    """Whether a message's `identifier` can name it: a non-empty string or a number."""
    return value != "" and not isinstance(value, bool) and isinstance(value, str | int | float)


def _failed(text: str, message: str, status: int) -> str:
    """The answer to a message whose handling raised: with the message's identifier and
    the HTTP status of the same failure when it has one, so that the request waiting
    for it (a want, a put) ends with this error instead of its timeout."""
    with contextlib.suppress(orjson.JSONDecodeError):
        sent = orjson.loads(text)
        identifier = sent.get("identifier") if isinstance(sent, dict) else None
        if _is_identifier(identifier):
            return failure_body(message, {"id": identifier, "status": status}).decode()
    return _failure(message)


class WebSocketConsumer:
    """One WebSocket connection: its wants, its leases, the items on their way to it."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        service: QueueService,
        transport: asyncio.Transport | None,
        access: Access | None = None,
        max_wants: int | None = None,
    ) -> None:
        self.ws = ws
        self.transport = transport
        # (asyncio.get_running_loop() costs a system call, getpid, each time)
        self._loop = asyncio.get_running_loop()
        self.service = service
        # What the user may do (None: everything), and how many wants may wait at once.
        self.access = access
        self.max_wants = max_wants
        self.wants: set[Want] = set()
        # The leases delivered here, by (queue, item id), in delivery order: each names
        # its delivery (a later delivery of the same item here replaces it).
        # The value is the delivery's receipt, as sent (compared as text).
        self.leases: dict[tuple[str, str], str] = {}
        # Queue names as clients wrote them → their canonical form (ops name a queue
        # each time; a connection uses few).
        self._names: dict[str, str] = {}
        self.outbox: deque[tuple[Want, Item, asyncio.Future[None] | None]] = deque()
        self.sender: asyncio.Task[None] | None = None
        self.open = True
        # While the connection's own handlers process messages, the last of them writes
        # what they brought, afterwards: no task per answered want.
        self.handling = 0
        # Messages in progress, oldest first, each with the future of its answer
        # written (the next one's answer waits for it).
        self.pipelined = service.decides_at_once
        self.in_progress: deque[asyncio.Task[None]] = deque()
        self._answered: asyncio.Future[None] | None = None
        # Text frames not yet written, and their size: written together at the end of
        # this pass of the event loop (`flush`).
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._pending_items: list[tuple[Want, Item, asyncio.Future[None] | None]] = []
        self._flush_scheduled = False
        self.closing = False
        # Set when no message is in progress any more (`handling` 0), for `shut`.
        self._quiet: asyncio.Future[None] | None = None

    # -- delivery -----------------------------------------------------------------

    def takes_handoff(self) -> bool:
        """Not while items wait to be sent here, or the socket's buffer is backed up. (A
        closed connection says yes: offered an item, it refuses, and its want is dropped.)"""
        if not self.open or self.ws.closed:
            return True
        if self.outbox:
            return False
        transport = self.transport
        backlog = self._pending_size
        return transport is None or transport.get_write_buffer_size() + backlog <= HANDOFF_BACKLOG

    def deliver(self, want: Want, item: Item, written: asyncio.Future[None] | None) -> bool:
        if not self.open or self.ws.closed:
            return False
        if want.remaining <= 1:
            self.wants.discard(want)
        if item.lease_expires is not None:
            self.leases[(want.queue, item.id)] = item.receipt or ""
        self.outbox.append((want, item, written))
        # A hand-off's put waits until its item is written: when that put is this
        # connection's own message, the handler cannot write the item itself afterwards.
        if self.sender is None and (written is not None or not self.handling):
            self.sender = self._loop.create_task(self._send_outbox())
        return True

    async def _send_outbox(self) -> None:
        try:
            while self.outbox and self.open:
                if self._write_outbox():
                    # Now, not at the end of this pass: the client starts on a want's
                    # items while the others of the same commit are made ready here.
                    self.flush()
                    continue
                self.flush()  # what was buffered goes first (or back to the outbox)
                if not self.open:
                    break
                want, item, written = self.outbox[0]
                group = self._group(want) if written is None else 1
                if group == 1:
                    frame = _frame({"id": want.identifier, "item": item.to_wire()})
                else:
                    wires = [self.outbox[i][1].to_wire() for i in range(group)]
                    frame = _frame({"id": want.identifier, "items": wires})
                try:
                    if written is None:
                        await self.ws.send_str(frame)
                    else:  # a put waits for it: not forever
                        await asyncio.wait_for(self.ws.send_str(frame), HANDOFF_PATIENCE)
                except (ConnectionError, RuntimeError):
                    self.open = False
                    break
                except TimeoutError:
                    log.warning("a WebSocket consumer did not read a handed-off item for %.0f s: "
                                "connection cut, the item goes back", HANDOFF_PATIENCE)  # fmt: skip
                    self.open = False
                    if self.transport is not None:
                        self.transport.abort()
                    break
                for _ in range(group):
                    self.outbox.popleft()
                if written is not None and not written.done():
                    written.set_result(None)
        finally:
            self.sender = None
            await self._give_back_outbox()

    def _group(self, want: Want) -> int:
        """How many items at the front of the outbox go in its next frame through
        aiohttp: the items in a row of a want with `"frames": "batch"` that no put waits
        for (at most MAX_GROUP), else 1."""
        outbox, count = self.outbox, 1
        if want.grouped:
            while (
                count < len(outbox)
                and count < MAX_GROUP
                and outbox[count][0] is want
                and outbox[count][2] is None
            ):
                count += 1
        return count

    def _write_outbox(self) -> bool:
        """Move what the outbox holds to the connection's write buffer (`_pending`),
        each item its own text frame; False if frames must go through aiohttp now
        (`_send_outbox`)."""
        outbox = self.outbox
        if not self._bufferable():
            return False
        pending, items = self._pending, self._pending_items
        while outbox and self._pending_size <= HANDOFF_BACKLOG:
            entry = outbox.popleft()
            want, item, _ = entry
            items.append(entry)
            if not want.grouped or not outbox or outbox[0][0] is not want:
                payload = {"id": want.identifier, "item": item.to_wire()}
            else:  # `"frames": "batch"`: the want's items in a row, in one frame
                group = [item.to_wire()]
                while outbox and outbox[0][0] is want and len(group) < MAX_GROUP:
                    entry = outbox.popleft()
                    group.append(entry[1].to_wire())
                    items.append(entry)
                payload = {"id": want.identifier, "items": group}
            frame = _text_frame(_payload(payload))
            pending.append(frame)
            self._pending_size += len(frame)
        self._schedule_flush()
        return True

    # -- writing ------------------------------------------------------------------

    def _bufferable(self) -> bool:
        """Whether a text frame may go to the write buffer: where aiohttp's writer
        would write the same bytes at once (no compression negotiated, the socket's
        buffer not backed up), and the connection is open."""
        transport = self.transport
        return not (
            transport is None
            or self.ws.compress
            or self.ws.closed
            or transport.is_closing()
            or transport.get_write_buffer_size() + self._pending_size > HANDOFF_BACKLOG
        )

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the buffered frames, in one system call: every answer and item made
        ready in one pass of the event loop (one commit's) goes out together, and the
        client reads them together, instead of a write and a read each."""
        self._flush_scheduled = False
        pending, self._pending, self._pending_size = self._pending, [], 0
        items, self._pending_items = self._pending_items, []
        if not pending:
            return
        transport = self.transport
        if transport is None or transport.is_closing() or self.ws.closed:
            # Not written: the items go back (`_give_back_outbox`), as when aiohttp's
            # write fails; answers are lost with the connection.
            self.open = False
            self.outbox.extendleft(reversed(items))
            if self.sender is None and not self.closing:
                self.sender = self._loop.create_task(self._send_outbox())
            return
        transport.write(b"".join(pending))
        for _, _, written in items:
            if written is not None and not written.done():
                written.set_result(None)  # in the socket's buffer, as after aiohttp's write

    async def _send(self, text: str) -> None:
        """Send one text frame after everything sent before it: buffered when it can
        be, else through aiohttp (which waits for a backed-up socket to drain)."""
        if self._bufferable():
            frame = _text_frame(text.encode())
            self._pending.append(frame)
            self._pending_size += len(frame)
            self._schedule_flush()
            return
        self.flush()  # what was buffered goes first
        await self.ws.send_str(text)

    async def _give_back_outbox(self) -> None:
        """Return every item not yet written, once the connection can take no more."""
        if self.open:
            return
        by_queue: dict[str, list[tuple[Item, asyncio.Future[None] | None]]] = {}
        while self.outbox:
            want, item, written = self.outbox.popleft()
            self.leases.pop((want.queue, item.id), None)
            by_queue.setdefault(want.queue, []).append((item, written))
        for name, items in by_queue.items():  # in their order: a group's items keep theirs
            try:
                await self.service.give_back_many(name, items)
            except Exception as exc:
                log.error("%d items of queue %s could not be given back: %s", len(items),
                          name, exc)  # fmt: skip
                for _, written in items:
                    if written is not None and not written.done():
                        written.set_exception(exc)

    # -- messages -----------------------------------------------------------------

    async def receive(self, text: str) -> None:
        """Start one message; with pipelining it goes on while the next is read."""
        before, answered = self._answered, self._loop.create_future()
        self._answered = answered
        self.handling += 1
        if not self.pipelined:
            return await self._process(text, before, answered)
        # Tasks start in the order they are made, each running until its first wait:
        # messages take effect in the order they came (`decides_at_once`).
        task = self._loop.create_task(self._process(text, before, answered))
        self.in_progress.append(task)
        task.add_done_callback(self._finished)
        # (a task cancelled before it ran must not hold up the answers after it)
        task.add_done_callback(lambda _: _settle(answered))
        if len(self.in_progress) >= PIPELINE:
            await asyncio.wait([self.in_progress[0]])

    def _finished(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self.in_progress.remove(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("WebSocket message failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for every message in progress (an ack received is an ack)."""
        while self.in_progress:
            await asyncio.wait(list(self.in_progress))

    async def _process(
        self, text: str, before: asyncio.Future[None] | None, answered: asyncio.Future[None]
    ) -> None:
        """Do one message, then write its answer once every earlier one is written."""
        try:
            try:
                reply = await self.handle(text)
            except DisqueueError as exc:  # e.g. storage unavailable: the connection stays
                reply = _failed(text, exc.message, exc.status)
            except Exception as exc:  # a fault of ours: say what failed, and go on
                # (past the upgrade an HTTP error answer would corrupt the stream)
                log.exception("WebSocket message failed")
                reply = _failed(text, f"internal error: {type(exc).__name__}", 500)
            if before is not None and not before.done():
                await asyncio.shield(before)
            if reply is not None:
                await self._reply(reply)
        finally:
            _settle(answered)
            if self._answered is answered:
                self._answered = None
            self.handling -= 1
            if not self.handling and self._quiet is not None:
                _settle(self._quiet)
        if self.outbox and self.sender is None and not self.handling:
            self.sender = asyncio.current_task()
            await self._send_outbox()

    async def send_error(self, message: str, identifier: object = None) -> None:
        await self._reply(_failure(message, identifier))

    async def _reply(self, text: str) -> None:
        """Answer a message. A peer that went away cannot be answered, but what it sent
        before still counts (an ack received is an ack), so this does not raise: the
        handler goes on with the messages already received."""
        if self.ws.closed:
            return
        try:
            await self._send(text)
        except (ConnectionError, RuntimeError):
            self.open = False  # nothing more is delivered here

    async def handle(self, text: str) -> str | None:
        """One client message: a want, an op, or an error; the answer to write (None:
        the want's items are its answer)."""
        try:
            message: Any = orjson.loads(text)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict):
            return _failure("failed to read message")
        identifier = message.get("identifier")
        if not _is_identifier(identifier):
            return _failure("no identifier")
        if "op" in message:
            return await self._op(message, identifier)
        queue = message.get("queue")
        if queue is None or queue == "":
            return _failure("no queue", identifier)
        key = message.get("key")
        if not isinstance(queue, str):
            return _failure("queue not found", identifier)
        if key is not None and not isinstance(key, str):
            return _failure("failed to read message")
        frames = message.get("frames")
        if frames is not None and frames != "batch":
            return _failure("invalid parameter 'frames'", identifier)
        try:
            params = Params(message)
            lease, count = params.number("lease"), params.integer("count")
            params.get("key")  # no NUL in it
            if self.access is not None:
                self.access.require(READ, queue)
            if self.max_wants is not None and len(self.wants) >= self.max_wants:
                raise TooMany("too many wants")
        except DisqueueError as exc:
            return _failure(exc.message, identifier)
        try:
            want = await self.service.want(
                self, identifier, queue, key, lease=lease, count=count or 1,
                grouped=frames is not None,
            )  # fmt: skip
        except (InvalidQueueId, QueueNotFound):
            return _failure("queue not found", identifier)
        if want is not None:
            self.wants.add(want)
        return None

    async def _op(self, message: dict[str, Any], identifier: object) -> str:
        """put, ack, release or touch (server/actions.py, as over HTTP, with the same
        rights); the reply carries the request's identifier."""
        params = Params(message)
        try:
            action = ACTIONS.get(message["op"]) if isinstance(message["op"], str) else None
            queue = params.require("queue")
            if action is None:
                raise BadRequest("unknown op")
            if self.access is not None:
                self.access.check(action.needs, lambda p: queue if p == "name" else params.get(p))
            result = await action.run(self.service, queue, params) or {}
        except DisqueueError as exc:
            # With the HTTP status the same failure gets over HTTP: a client that sends
            # its requests here raises the same error either way.
            return failure_body(exc.message, {"id": identifier, "status": exc.status}).decode()
        if message["op"] in ("ack", "release"):
            self._forget_leases(queue, params)
        if message["op"] == "put" and "id" in result:
            result = {"item_id": result["id"]}  # `id` is the request's identifier here
        return _frame({"id": identifier, **result})

    def _forget_leases(self, queue: str, params: Params) -> None:
        """Leases this connection ended itself are not released when it closes."""
        name = self._names.get(queue)
        if name is None:
            if len(self._names) > 64:
                self._names.clear()
            name = self._names[queue] = self.service.names.parse(queue)
        leases = self.leases
        if not params.has("receipts") and not params.has("receipt"):
            leases.pop((name, params.get("id") or ""), None)  # whatever lease it had
            return
        for text in params.raw("receipts") if params.has("receipts") else [params.get("receipt")]:
            # (the receipt held is compared as text: one that is no receipt names none)
            if isinstance(text, str):
                lease = (name, contract.receipt_item(text))
                if leases.get(lease) == text:
                    del leases[lease]

    async def close(self) -> None:
        """The connection is gone: cancel its wants, release its leases, give back
        what it did not get."""
        self.closing = True
        self.flush()  # (what cannot be written any more goes back to the outbox)
        self.open = False
        for want in self.wants:
            self.service.cancel(want)
        self.wants.clear()
        # By receipt: a lease that ran out and went to another consumer is not this
        # connection's to end. Queue by queue, in delivery order: each batch goes back
        # to the front keeping its order.
        leases, self.leases = self.leases, {}
        by_queue: dict[str, list[LeaseRef]] = {}
        for (queue, item_id), receipt in leases.items():
            by_queue.setdefault(queue, []).append(parse_receipt(receipt) or LeaseRef(item_id))
        for queue, refs in by_queue.items():
            try:
                await self.service.release_many(queue, refs)  # ended meanwhile: not found
            except QueueNotFound:
                pass  # deleted meanwhile
            except DisqueueError as exc:
                log.error("%d leases on %s not released: %s", len(refs), queue, exc)
        if self.sender is not None:
            await self.sender  # it stops at once, and gives back what it did not write
        else:
            await self._give_back_outbox()

    async def shut(self) -> None:
        """Server shutdown: the messages in progress are done and answered first, as
        HTTP finishes its requests in flight (a put's answer after the close frame would
        be lost, not its item); then a close frame (1001), or, from a peer that does not
        take it in time, a cut connection; either way the outbox is given back."""
        if self.handling:
            self._quiet = self._loop.create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._quiet), CLOSE_TIMEOUT)
        self.flush()  # before the close frame
        try:
            await asyncio.wait_for(
                self.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown"),
                CLOSE_TIMEOUT,
            )
        except (TimeoutError, ConnectionError):
            if self.transport is not None:
                self.transport.abort()


async def take_ws(request: web.Request) -> web.StreamResponse:
    limits = request.app[LIMITS]
    # The peer's close frame is answered only once its messages are done and its wants
    # and leases are ended: a client that closed sees the queue without it.
    ws = web.WebSocketResponse(
        heartbeat=HEARTBEAT, max_msg_size=limits.max_body_bytes, autoclose=False
    )
    await ws.prepare(request)
    transport = request.transport
    access = request.get(ACCESS)
    consumer = WebSocketConsumer(
        ws, request.app[SERVICE], transport, access, limits.max_wants_per_connection
    )
    connections = request.app[CONNECTIONS]
    connections.add(consumer)
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await consumer.receive(message.data)
            elif message.type == WSMsgType.BINARY:
                await consumer.receive("")  # in its turn: "failed to read message"
    finally:
        connections.discard(consumer)
        await consumer.drain()
        await consumer.close()
        consumer.flush()  # before the close frame
        if not ws.closed:
            await ws.close()
    return ws


async def close_all(app: web.Application) -> None:
    """On shutdown: close every WebSocket of the listener with 1001 (going away)."""
    connections = app[CONNECTIONS]
    consumers = [*connections]
    await asyncio.gather(*(consumer.shut() for consumer in consumers), return_exceptions=True)
