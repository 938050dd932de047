"""The original Disqueue Python client's names, so its programs run unchanged::

    from disqueue import Disqueue, queue_create, queue_list

    client = Disqueue("http://127.0.0.1:3682", auth=("test", "test"))

    @client.queue_handler(queue_id, key=None)
    def handler(key, value):
        print(key, value)

    client.run()

As in the original: each handler gets one item at a time (at-most-once, no lease),
runs in a worker thread off the event loop, and a new want is sent when it returns;
`run()` serves until the process ends. Beyond it: a dropped connection is reopened,
a handler that raises is logged and keeps being served, SIGTERM ends `run()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import Any

from disqueue.client import calls
from disqueue.client.consumer import AsyncConsumer
from disqueue.client.errors import QueueException
from disqueue.client.options import Options
from disqueue.client.sync import Client

log = logging.getLogger("disqueue.client")

QueueHandler = Callable[[str | None, str], Any]
Auth = tuple[str, str] | None

__all__ = ["Disqueue", "QueueClient", "QueueException", "queue_create", "queue_list"]


class QueueClient:
    """The HTTP calls on one queue, as the original `QueueClient`; payloads are the
    protocol's (take and peek return `{"key": ..., "value": ..., "id": ...}`)."""

    def __init__(self, url: str, queue_id: str, auth: Auth = None) -> None:
        self.url = url
        self.queue_id = queue_id
        self.auth = auth

    def _send(self, call: calls.Call[Any]) -> Any:
        raw = calls.Call(call.method, call.path, _payload, call.form, call.json, call.wait)
        with Client(self.url, self.auth) as client:
            return client.send(raw)

    def put(self, key: str | None, value: str) -> None:
        """Put `value` (with `key`, which may be None) into the queue."""
        self._send(calls.put(calls.put_fields(self.queue_id, value, key)))

    def take(self, key: str | None = None) -> dict[str, Any]:
        """Take the oldest item (matching `key`); raises `QueueException` if none."""
        result: dict[str, Any] = self._send(calls.take(self.queue_id, key))
        return result

    def peek(self, key: str | None = None) -> dict[str, Any]:
        """The item `take` would return, left in the queue."""
        result: dict[str, Any] = self._send(calls.peek(self.queue_id, key))
        return result

    def delete(self) -> None:
        """Delete the queue."""
        self._send(calls.delete_queue(self.queue_id))

    def info(self) -> dict[str, Any]:
        """The queue's information object."""
        result: dict[str, Any] = self._send(calls.info(self.queue_id))
        return result

    def verify(self) -> None:
        """Raise `QueueException` unless the queue exists."""
        self.info()


def _payload(payload: Any) -> Any:
    return payload


def queue_create(url: str, name: str | None = None, auth: Auth = None) -> str:
    """Create a queue (named `name`, or a new random one); its name."""
    with Client(url, auth) as client:
        return client.create_queue(name)


def queue_list(url: str, auth: Auth = None) -> list[str]:
    """The names of every queue."""
    with Client(url, auth) as client:
        return client.queues()


class Disqueue:
    """The original client application: register handlers, then `run()`."""

    def __init__(self, url: str, auth: Auth = None) -> None:
        self.url = url
        self.auth = auth
        self.handlers: list[tuple[str, str | None, QueueHandler]] = []
        self.cached_clients: dict[str, QueueClient] = {}
        self._consumers: list[AsyncConsumer] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def queue_handler(
        self, queue_id: str, key: str | None = None
    ) -> Callable[[QueueHandler], QueueHandler]:
        """Decorate `handler(key, value)` to be called with each item of `queue_id`
        (matching `key`) once `run()` serves; register before `run()`."""

        def register(handler: QueueHandler) -> QueueHandler:
            self.handlers.append((queue_id, key, handler))
            return handler

        return register

    def queue(self, queue_id: str) -> QueueClient:
        """A client of the queue `queue_id`, verified to exist (cached)."""
        client = self.cached_clients.get(queue_id)
        if client is None:
            client = QueueClient(self.url, queue_id, self.auth)
            client.info()
            self.cached_clients[queue_id] = client
        return client

    def run(self) -> None:
        """Serve every handler until SIGTERM (or SIGINT) or the process ends."""
        asyncio.run(self._serve())

    def stop(self) -> None:
        """Stop serving (from any thread): `run()` returns once the handlers in
        progress finish."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop)

    def _stop(self) -> None:
        for consumer in self._consumers:
            consumer.stop()

    async def _serve(self) -> None:
        options = Options.resolve(self.url, self.auth)
        self._consumers = [
            AsyncConsumer(options, queue_id, key, lease=None, prefetch=1)
            for queue_id, key, _ in self.handlers
        ]
        loop = self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            # Outside the main thread there are no signal handlers: stop() is the way out.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._stop)
        try:
            handlers = (handler for _, _, handler in self.handlers)
            await asyncio.gather(*map(_handle, self._consumers, handlers))
        finally:
            for consumer in self._consumers:
                await consumer.aclose()


async def _handle(consumer: AsyncConsumer, handler: QueueHandler) -> None:
    async for message in consumer:
        try:
            await asyncio.to_thread(handler, message.key, message.value)
        except Exception:
            log.exception("handler of %s failed on an item", consumer.queue)
