"""`Consumer`: the synchronous face of `AsyncConsumer`.

The WebSocket lives on an event loop in a thread of its own; the caller's thread
iterates and settles items through it. Signals are caught in the main thread
(where Python delivers them) and stop the consumer there.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Coroutine, Iterable, Iterator
from types import FrameType, TracebackType
from typing import Any, TypeVar

from disqueue.client.consumer import AsyncConsumer
from disqueue.client.messages import Delivered, Message
from disqueue.client.options import Options

T = TypeVar("T")
_Handler = Any  # what signal.signal returns: a callable, an int, or None


class SyncMessage(Delivered):
    """One delivered item (`key`, `value`, `id`, `attempts`, `lease_expires`);
    `with message:` acks it at the end of the block and releases it if the block raises."""

    __slots__ = ("_consumer", "item", "message")

    def __init__(self, message: Message, consumer: Consumer) -> None:
        self.message = message
        self.item = message.item
        self._consumer = consumer

    def ack(self) -> None:
        """Acknowledge the item and wait for the answer."""
        self._consumer.call(self.message.ack())

    def release(self, delay: float | None = None) -> None:
        """Give the item back to its queue (after `delay` seconds)."""
        self._consumer.call(self.message.release(delay))

    def touch(self, lease: float) -> float:
        """Extend the lease; the new expiry."""
        return self._consumer.call(self.message.touch(lease))

    def __enter__(self) -> SyncMessage:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        op = "ack" if exc is None else "release"
        self._consumer.call(self._consumer.consumer.settle(self.message, op))


class Consumer:
    """Items of one queue pushed over the WebSocket, for a synchronous worker; made
    by `Client.consume`. Iterate it, optionally inside `with consumer:`."""

    def __init__(
        self,
        options: Options,
        queue: str,
        key: str | None,
        lease: float | None,
        prefetch: int,
        stop_signals: Iterable[int] | None,
    ) -> None:
        self.consumer = AsyncConsumer(options, queue, key, lease, prefetch, stop_signals=())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"disqueue-consumer-{queue}", daemon=True
        )
        self._thread.start()
        self._signals: dict[int, _Handler] = {}
        signals = (signal.SIGTERM,) if stop_signals is None else tuple(stop_signals)
        if threading.current_thread() is threading.main_thread():
            for sig in signals:
                self._signals[sig] = signal.signal(sig, self._on_signal)
        self._closed = False

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the consumer's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._loop.call_soon_threadsafe(self.consumer.stop)

    def stop(self) -> None:
        """Hand out no more items: the iteration ends when the item in hand is done."""
        self._loop.call_soon_threadsafe(self.consumer.stop)

    def __iter__(self) -> Iterator[SyncMessage]:
        return self

    def __next__(self) -> SyncMessage:
        if self._closed:  # closed inside the loop
            raise StopIteration
        try:
            message = self.call(self.consumer.__anext__())
        except StopAsyncIteration:
            self.close()
            raise StopIteration from None
        return SyncMessage(message, self)

    def __enter__(self) -> Consumer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._closed:
            self.call(self.consumer.__aexit__(kind, exc, tb))
        self.close()

    def close(self) -> None:
        """Close the connection, stop the loop thread, restore the signal handlers."""
        if self._closed:
            return
        self._closed = True
        for sig, handler in self._signals.items():
            signal.signal(sig, handler)
        self._signals.clear()
        self.call(self.consumer.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
