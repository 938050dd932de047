"""`AsyncConsumer`: a worker's stream of items over `/take/ws` (API.md Part 2).

The consumer keeps up to `prefetch` items on their way to it: counted wants
(`"count": n`) ask for what the window has room for, and every item settled (acked,
released, or for `lease=None` handed on) makes room for more. A dropped connection
is reopened with exponential backoff and the wants are sent again; the server has
released the leases of the old connection, so those items are dropped from the
buffer here and come again. Acks of items from an old connection are not sent: their
lease is gone, and the item will be delivered again (at-least-once).

Wants ask for several items a frame (`"frames": "batch"`, API.md Part 3). The acks of
the loop moving on are sent in batches (`{"op": "ack", "receipts": [...]}`,
API.md Part 3): gathered while the loop body runs without waiting, and sent as soon as
it waits (the event loop runs), before the next want, or when ACK_BATCH are gathered.
A receipt the server reports `missing` is logged, as a failed single ack was.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from disqueue.client.calls import MAX_BATCH, lease_params
from disqueue.client.errors import (
    HANDSHAKE_REASONS,
    ClientError,
    ConnectionFailed,
    NoSuchLease,
    error_for,
)
from disqueue.client.messages import Message
from disqueue.client.models import Item
from disqueue.client.options import Options
from disqueue.client.signals import SignalStops

log = logging.getLogger("disqueue.client")

#: Seconds before the first reconnect attempt; doubled on each failure up to the max.
BACKOFF_MIN = 0.1
BACKOFF_MAX = 5.0
#: Seconds between WebSocket pings; a server that stops answering counts as gone.
HEARTBEAT = 30.0
#: On close, how long to wait for the answers to acks and releases already sent.
CLOSE_TIMEOUT = 5.0
#: At most this many receipts in one batch ack of the loop moving on.
ACK_BATCH = 100


class AsyncConsumer:
    """Items of one queue pushed over the WebSocket; made by `AsyncClient.consume`,
    which documents the arguments. Iterate it (`async for`), optionally inside
    `async with consumer:`; `stop()` ends the iteration after the item in hand."""

    def __init__(
        self,
        options: Options,
        queue: str,
        key: str | None = None,
        lease: float | None = 30.0,
        prefetch: int = 100,
        stop_signals: Iterable[int] | None = None,
    ) -> None:
        if not 1 <= prefetch <= MAX_BATCH:
            raise ValueError(f"prefetch must be 1..{MAX_BATCH}")
        self.options = options
        self.queue = queue
        self.key = key
        self.lease = lease
        self.prefetch = prefetch
        self.stop_signals = tuple(stop_signals or ())
        #: How many times a connection was opened (1 + reconnects).
        self.connections = 0
        self.on_close: Callable[[AsyncConsumer], object] | None = None
        # Wants ask for half the window at least (a quarter was 12% slower for the
        # README's worker: twice the messages, leases and commits for the same items).
        self._low_water = max(1, prefetch // 2)
        self._buffer: deque[Message] = deque()
        self._ready = asyncio.Event()
        self._wants: dict[str, int] = {}  # want identifier -> items still to come
        self._requested = 0
        self._fresh = 0  # items delivered since the reader last let the loop body run
        # Ops whose caller waits for the answer, and how many others (acks as the loop
        # moves on) are not answered yet: closing waits for those.
        self._ops: dict[str, asyncio.Future[Any]] = {}
        self._unanswered = 0
        self._answered = asyncio.Event()
        self._current: Message | None = None
        self._generation = 0
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._runner: asyncio.Task[None] | None = None
        self._failure: ClientError | None = None
        self._stopping = False
        self._closed = False
        self._prefix = uuid.uuid4().hex[:12]
        self._sequence = itertools.count(1)
        self._watched: list[int] = []
        # Receipts acked by the loop moving on, not yet sent (see the module's doc).
        self._acks: list[str] = []
        self._flushing: asyncio.Task[None] | None = None

    # -- iteration ------------------------------------------------------------

    def __aiter__(self) -> AsyncConsumer:
        return self

    async def __anext__(self) -> Message:
        if self._closed:  # closed inside the loop: the server released what it held
            raise StopAsyncIteration
        current = self._current
        if current is not None and not current.settled and not self._acked(current):
            await self.settle(current, "ack")  # the loop body finished with it
        self._start()
        while True:
            if self._failure is not None:
                raise self._failure
            if self._buffer and not (self._stopping and self.lease is not None):
                break  # (items taken at-most-once are handed out even when stopping)
            if self._stopping:
                await self.aclose()
                raise StopAsyncIteration
            await self._send_acks()
            self._ready.clear()
            await self._ready.wait()
        message = self._buffer.popleft()
        self._current = message
        return message

    async def __aenter__(self) -> AsyncConsumer:
        self._start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping = True  # no more wants: what is released must not come back here
        current = self._current
        if current is not None and not current.settled:
            # A `break` or an exception: the loop did not say the item is done, so it goes
            # back, as in the TypeScript client, which cannot tell the two apart (README,
            # "What ends a lease"). Closing the connection, just below, releases it (and
            # the prefetched ones); a release now could hand it back to a want still open.
            current.settled = True
        await self.aclose()

    def stop(self) -> None:
        """Hand out no more items: the iteration ends when the item in hand is done."""
        self._stopping = True
        self._ready.set()

    async def aclose(self) -> None:
        """Close the connection (the server releases the leases it still holds)."""
        if self._closed:
            return
        self._closed = self._stopping = True
        self._ready.set()
        self._unwatch_signals()
        if self._ws is not None:
            # Acks already sent are answered before the connection closes: closing at
            # once would let the server release items this consumer finished.
            with contextlib.suppress(Exception):
                await self._send_acks()
            if self._unanswered:
                self._answered.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._answered.wait(), CLOSE_TIMEOUT)
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self.on_close is not None:
            self.on_close(self)

    # -- settling -------------------------------------------------------------

    async def settle(
        self, message: Message, op: str, *, wait: bool = False, delay: float | None = None
    ) -> None:
        """Ack or release `message` (for `lease=None` only mark it done), then ask for
        more items. With `wait`, wait for the server's answer and raise its error."""
        if message.settled:
            return
        message.settled = True
        if self._current is message:
            self._current = None
        try:
            if self.lease is not None:
                await self._op(op, message, wait, delay=delay)
        finally:
            await self._request_more()

    def _acked(self, message: Message) -> bool:
        """`settle(message, "ack")` when it would not wait: its receipt joins the acks
        gathered, and the window has no room for a want yet. (A coroutine less, and two
        awaits, for nearly every item; False: it did nothing.)"""
        ws = self._ws
        receipt = message.item.receipt
        if (
            self.lease is None
            or receipt is None
            or message.generation != self._generation
            or ws is None
            or ws.closed
            or len(self._acks) + 1 >= ACK_BATCH
            or self.prefetch - len(self._buffer) - self._requested >= self._low_water
        ):
            return False
        message.settled = True
        self._current = None
        self._acks.append(receipt)
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._send_acks())
        return True

    async def touch(self, message: Message, lease: float) -> float:
        """Extend the lease of `message`; the new expiry."""
        payload = await self._op("touch", message, True, lease=lease)
        return float(payload["lease_expires"])

    async def _op(self, op: str, message: Message, wait: bool, **fields: Any) -> Any:
        ws = self._ws
        if message.generation != self._generation or ws is None or ws.closed:
            if wait:  # the lease went with the connection it was given on
                raise NoSuchLease("no such lease")
            return None
        receipt = message.item.receipt  # this delivery, no other
        if op == "ack" and not wait and receipt is not None:
            self._acks.append(receipt)
            if len(self._acks) >= ACK_BATCH:
                await self._send_acks()
            elif self._flushing is None:
                self._flushing = asyncio.get_running_loop().create_task(self._send_acks())
            return None
        identifier = f"{self._prefix}-o{next(self._sequence)}"
        frame = {"op": op, "identifier": identifier, "queue": self.queue}
        frame.update(lease_params(message.item))  # its receipt, or (no receipt) its id
        frame.update((name, value) for name, value in fields.items() if value is not None)
        if not wait:
            self._unanswered += 1
            await ws.send_str(orjson.dumps(frame).decode())
            return None
        future = self._ops[identifier] = asyncio.get_running_loop().create_future()
        await ws.send_str(orjson.dumps(frame).decode())
        return await future

    async def _send_acks(self) -> None:
        """Send the gathered acks as one batch; its answer is awaited by nobody."""
        if self._flushing is not None and self._flushing is not asyncio.current_task():
            self._flushing.cancel()  # sent here instead (it has not started: no await)
        self._flushing = None
        ws, receipts = self._ws, self._acks
        if not receipts or ws is None or ws.closed:
            return
        self._acks = []
        identifier = f"{self._prefix}-o{next(self._sequence)}"
        frame = {"op": "ack", "identifier": identifier, "queue": self.queue}
        self._unanswered += 1
        await ws.send_str(orjson.dumps({**frame, "receipts": receipts}).decode())

    async def _request_more(self) -> None:
        """Send a want for what the window has room for (in steps of a half)."""
        ws = self._ws
        if ws is None or ws.closed or self._stopping or self._failure is not None:
            return
        held = len(self._buffer) + (self._current is not None)
        room = self.prefetch - held - self._requested
        # Never a want for less than a half: with nothing on its way, over half the
        # window is in hand, and a want of one or two items would cost
        # a lease write and two messages for them.
        if room < self._low_water:
            return
        await self._send_acks()  # before the want: the server commits them together
        identifier = f"{self._prefix}-w{next(self._sequence)}"
        self._wants[identifier] = room
        self._requested += room
        # (several items a frame: the server's work and this reader's, per item, is less)
        want: dict[str, Any] = {"identifier": identifier, "queue": self.queue, "frames": "batch"}
        if self.key is not None:
            want["key"] = self.key
        if self.lease is not None:
            want["lease"] = self.lease
        if room > 1:
            want["count"] = room
        await ws.send_str(orjson.dumps(want).decode())

    # -- the connection -------------------------------------------------------

    def _start(self) -> None:
        if self._runner is None and not self._closed:
            self._runner = asyncio.get_running_loop().create_task(self._run())
            self._watch_signals()

    async def _run(self) -> None:
        delay = BACKOFF_MIN
        async with aiohttp.ClientSession() as session:
            while not self._stopping:
                try:
                    async with session.ws_connect(
                        self.options.ws_url,
                        headers=self.options.auth_headers,
                        ssl=self.options.ssl_context or True,
                        heartbeat=HEARTBEAT,
                        max_msg_size=0,
                    ) as ws:
                        delay = BACKOFF_MIN
                        await self._serve(ws)
                except aiohttp.WSServerHandshakeError as exc:
                    if exc.status in HANDSHAKE_REASONS:
                        return self._fail(error_for(exc.status, HANDSHAKE_REASONS[exc.status]))
                    log.warning("consumer of %s: handshake failed: %s", self.queue, exc)
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.warning("consumer of %s: connection failed: %s", self.queue, exc)
                self._lost()
                if self._stopping:
                    break
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(2 * delay, BACKOFF_MAX)

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._generation += 1
        self.connections += 1
        await self._request_more()
        async for frame in ws:
            if frame.type == aiohttp.WSMsgType.TEXT:
                self._on_frame(frame.data)
            if self._failure is not None:
                break
            if self._fresh >= self._low_water:
                # Let the loop body start on them before reading the rest of what
                # arrived: its next want (and acks) leave while the server's commit
                # of the others' leases would else wait for this whole read.
                self._fresh = 0
                await asyncio.sleep(0)
        if not self._stopping:
            log.warning("consumer of %s: connection closed (%s)", self.queue, ws.close_code)

    def _lost(self) -> None:
        """The connection ended: its wants and leases are gone with it."""
        self._ws = None
        self._wants.clear()
        self._requested = 0
        for future in self._ops.values():
            future.set_exception(ConnectionFailed("connection lost"))
        self._ops.clear()
        self._acks.clear()  # their leases went with the connection
        self._unanswered = 0
        self._answered.set()
        if self.lease is not None:
            self._buffer.clear()  # released by the server; they will come again

    def _on_frame(self, text: str) -> None:
        data = orjson.loads(text)
        payload = data.get("payload")
        identifier = payload.get("id") if isinstance(payload, dict) else None
        if data.get("success"):
            if isinstance(payload, dict) and "item" in payload:
                self._delivered(identifier, payload["item"])
            elif isinstance(payload, dict) and "items" in payload:  # `"frames": "batch"`
                for wire in payload["items"]:
                    self._delivered(identifier, wire)
            elif (future := self._ops.pop(str(identifier), None)) is not None:
                future.set_result(payload)
            else:
                for receipt in payload.get("missing") or () if isinstance(payload, dict) else ():
                    log.warning("consumer of %s: ack of %s: no such lease", self.queue, receipt)
                self._unanswer()
            return
        error = error_for(None, str(data.get("message") or "error"))
        if (future := self._ops.pop(str(identifier), None)) is not None:
            future.set_exception(error)
        elif isinstance(identifier, str) and identifier.startswith(f"{self._prefix}-o"):
            log.warning("consumer of %s: %s", self.queue, error.message)
            self._unanswer()
        else:  # a want refused ("queue not found", "invalid parameter 'lease'")
            self._fail(error)

    def _unanswer(self) -> None:
        """One more answer to an op nobody waits for."""
        self._unanswered -= 1
        if self._unanswered <= 0:
            self._answered.set()

    def _delivered(self, identifier: Any, wire: dict[str, Any]) -> None:
        remaining = self._wants.get(identifier)
        if remaining is None:
            log.warning("consumer of %s: item for an unknown want %r", self.queue, identifier)
            return
        if remaining <= 1:
            del self._wants[identifier]
        else:
            self._wants[identifier] = remaining - 1
        self._requested -= 1
        self._fresh += 1
        self._buffer.append(Message(Item.from_payload(wire), self, self._generation))
        self._ready.set()

    def _fail(self, error: ClientError) -> None:
        self._failure = error
        self._stopping = True
        self._ready.set()

    # -- signals --------------------------------------------------------------

    def _watch_signals(self) -> None:
        if not self.stop_signals or threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in self.stop_signals:
            if SignalStops.of(loop).add(sig, self):
                self._watched.append(sig)

    def _unwatch_signals(self) -> None:
        if self._watched:
            stops = SignalStops.of(asyncio.get_running_loop())
            for sig in self._watched:
                stops.discard(sig, self)
            self._watched.clear()
