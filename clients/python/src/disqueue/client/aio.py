"""`AsyncClient`: the whole HTTP API for asyncio, and `consume` over the WebSocket."""

from __future__ import annotations

import itertools
import signal
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, cast, overload

import aiohttp

from disqueue.client import calls
from disqueue.client.calls import Call, Lease, NewItem
from disqueue.client.consumer import AsyncConsumer
from disqueue.client.models import Item, QueueInfo, Settled
from disqueue.client.opsocket import NoSocket, OpSocket
from disqueue.client.options import Options
from disqueue.client.pipeline import put_batches
from disqueue.client.sync import JSON_HEADERS, connection_failed

T = TypeVar("T")


class AsyncClient:
    """An asyncio Disqueue client, used as an async context manager::

        async with AsyncClient("http://127.0.0.1:3682") as client:
            queue = await client.create_queue()
            await client.put(queue, "hello")
            async for item in client.consume(queue):
                print(item.value)        # acked when the body finishes

    The arguments are those of `Client`. Leaving the block closes the HTTP pool and
    every consumer still open (their leased items go back to their queues).
    """

    def __init__(
        self,
        url: str | None = None,
        auth: tuple[str, str] | None = None,
        *,
        ca_file: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        verify: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self.options = Options.resolve(
            url, auth, ca_file=ca_file, cert=cert, key=key, verify=verify, timeout=timeout
        )
        # aiohttp's client, not httpx: a round trip on loopback costs 0.37 ms with it
        # and 1.1 ms with httpx (the sync Client stays on httpx). Made on first use,
        # inside the loop that uses it.
        self._http: aiohttp.ClientSession | None = None
        self._consumers: set[AsyncConsumer] = set()
        # Single puts go as messages on a WebSocket of this client (`opsocket`).
        self._ops = OpSocket(self.options)

    async def aclose(self) -> None:
        """Close every consumer, the puts' WebSocket and the connection pool."""
        for consumer in list(self._consumers):
            await consumer.aclose()
        await self._ops.close()
        if self._http is not None:
            await self._http.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            connector = aiohttp.TCPConnector(ssl=self.options.ssl_context or True)
            self._http = aiohttp.ClientSession(
                connector=connector, headers=self.options.auth_headers, trust_env=False
            )
        return self._http

    async def send(self, call: Call[T]) -> T:
        """Send one call and read its answer (the methods below are built on this)."""
        headers, data = None, cast(dict[str, str] | bytes | None, call.form)
        if call.json is not None:
            headers, data = JSON_HEADERS, calls.json_body(call.json)
        timeout = aiohttp.ClientTimeout(total=self.options.timeout + call.wait)
        try:
            async with self._session().request(
                call.method,
                self.options.url + call.path,
                data=data,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                status, content = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise connection_failed(exc, self.options) from exc
        self._ops.heard(status)
        return calls.read_answer(call, status, content)

    # -- queues ---------------------------------------------------------------

    async def queues(self) -> list[str]:
        """The names of every queue, oldest first."""
        return await self.send(calls.queues())

    async def create_queue(
        self,
        name: str | None = None,
        *,
        lease: float | None = None,
        max_attempts: int | None = None,
        dead_letter: str | None = None,
        max_items: int | None = None,
        retry_delays: Sequence[float] | None = None,
        delay: float | None = None,
        ttl: float | None = None,
        ordered: bool = False,
    ) -> str:
        """Create a queue (or return `name` if it exists with these settings or none:
        `QueueExists` if with others); its name. `retry_delays`: seconds an item waits
        after its n-th delivery ended without an ack; `delay`, `ttl`: defaults for items
        put without their own; `ordered`: each key a group, its items delivered in put
        order and none while one of them is in flight (it cannot change later)."""
        return await self.send(
            calls.create_queue(
                name,
                lease=lease,
                max_attempts=max_attempts,
                dead_letter=dead_letter,
                max_items=max_items,
                retry_delays=retry_delays,
                delay=delay,
                ttl=ttl,
                ordered=ordered,
            )
        )

    async def info(self, queue: str) -> QueueInfo:
        """The queue's depths, settings and totals."""
        return await self.send(calls.info(queue))

    async def stats(self) -> list[QueueInfo]:
        """Every queue's depths and totals in one request (`GET /stats`; `size` is the
        ready count; settings and `created` are not included)."""
        return await self.send(calls.stats())

    async def delete_queue(self, queue: str) -> None:
        """Delete the queue and its items."""
        await self.send(calls.delete_queue(queue))

    async def purge(self, queue: str, *, in_flight: bool = False) -> int:
        """Remove every ready and delayed item (with `in_flight`, those in flight too,
        whose receipts then name nothing); how many were removed."""
        return await self.send(calls.purge(queue, in_flight=in_flight))

    async def change_settings(self, queue: str, **changes: Any) -> QueueInfo:
        """Change some of a queue's settings at once (`lease`, `max_attempts`,
        `dead_letter`, `max_items`, `retry_delays`, `delay`, `ttl`; None clears one)."""
        return await self.send(calls.change_settings(queue, changes))

    async def redrive(self, queue: str, *, to: str | None = None, count: int | None = None) -> int:
        """Send up to `count` (default all) dead letters of `queue`, oldest first, back to
        `to` or to the queue each came from, attempts reset; how many moved."""
        return await self.send(calls.redrive(queue, to, count))

    async def pause(self, queue: str) -> QueueInfo:
        """Stop deliveries from `queue` (puts go on, leases run on)."""
        return await self.send(calls.pause(queue))

    async def resume(self, queue: str) -> QueueInfo:
        """Deliver from `queue` again."""
        return await self.send(calls.resume(queue))

    # -- items ----------------------------------------------------------------

    async def put(
        self,
        queue: str,
        value: str,
        key: str | None = None,
        *,
        delay: float | None = None,
        ttl: float | None = None,
        dedup_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        priority: int | None = None,
    ) -> str:
        """Put one item (`priority` 0-9: the highest is taken first); its id. Sent as a
        message on a WebSocket this client keeps open (`disqueue.client.opsocket`), or
        over HTTP when another put is on its way there or the socket cannot be had."""
        fields = calls.put_fields(
            queue, value, key, delay=delay, ttl=ttl, dedup_id=dedup_id, headers=headers,
            priority=priority,
        )  # fmt: skip
        item_id = await self._ops.put(self._session(), fields)
        if item_id is not None:
            return item_id
        return await self.send(calls.put(fields))

    async def put_many(self, queue: str, items: Iterable[NewItem]) -> list[str]:
        """Put items in batches of 1000 (each batch stored whole or not at all), in
        order; their ids. One batch is one HTTP request; more go on a WebSocket of their
        own, several on their way at once (`pipeline.WINDOW`): if one fails, the error
        is raised once those sent are answered, the batches before it stored, and of the
        few sent after it each may be stored (`disqueue.client.pipeline`)."""
        batches = iter(calls.batches(items))
        first, second = next(batches, None), next(batches, None)
        if first is None:
            return []
        if second is None:
            return await self.send(calls.put_many(queue, first))
        every = itertools.chain((first, second), batches)
        ids: list[str] = []
        if not self._ops.trusted:  # (a refused upgrade would be a failed login of its own)
            ids = await self.send(calls.put_many(queue, next(every)))
        try:
            return ids + await put_batches(self.options, queue, every)
        except NoSocket:  # (nothing was sent: `every` is whole)
            return ids + [
                item_id
                for batch in every
                for item_id in await self.send(calls.put_many(queue, batch))
            ]

    @overload
    async def take(
        self, queue: str, key: str | None = None, *, lease: float | None = None,
        wait: float | None = None, count: None = None,
    ) -> Item: ...  # fmt: skip
    @overload
    async def take(
        self, queue: str, key: str | None = None, *, lease: float | None = None,
        wait: float | None = None, count: int,
    ) -> list[Item]: ...  # fmt: skip
    async def take(
        self,
        queue: str,
        key: str | None = None,
        *,
        lease: float | None = None,
        wait: float | None = None,
        count: int | None = None,
    ) -> Item | list[Item]:
        """Take the oldest item (matching `key`): removed, or with `lease` held until
        acked. `wait` long-polls up to that many seconds; `count` returns a list of up
        to `count` items instead (empty when there are none). Raises `NoItem`."""
        result: Item | list[Item] = await self.send(
            calls.take(queue, key, lease=lease, wait=wait, count=count)
        )
        return result

    async def peek(self, queue: str, key: str | None = None) -> Item:
        """The item `take` would give, left in place. Raises `NoItem`."""
        return await self.send(calls.peek(queue, key))

    async def ack(self, queue: str, lease: Lease) -> None:
        """Acknowledge a leased item (the `Item` taken, or its receipt): it is done and
        removed. Raises `NoSuchLease` if that delivery's lease is no longer live."""
        await self.send(calls.ack(queue, lease))

    async def release(self, queue: str, lease: Lease, delay: float | None = None) -> None:
        """Give a leased item back to the front of its queue (after `delay` seconds)."""
        await self.send(calls.release(queue, lease, delay))

    async def touch(self, queue: str, lease: Lease, seconds: float) -> float:
        """Extend a lease to `seconds` from now; the new expiry (Unix time)."""
        return await self.send(calls.touch(queue, lease, seconds))

    async def ack_many(self, queue: str, leases: Iterable[Lease]) -> Settled:
        """Acknowledge up to 1000 leased items at once, by receipt."""
        return await self.send(calls.ack_many(queue, leases))

    async def release_many(
        self, queue: str, leases: Iterable[Lease], delay: float | None = None
    ) -> Settled:
        """Give up to 1000 leased items back, in their order, by receipt."""
        return await self.send(calls.release_many(queue, leases, delay))

    async def touch_many(self, queue: str, leases: Iterable[Lease], seconds: float) -> Settled:
        """Extend up to 1000 leases to `seconds` from now, by receipt."""
        return await self.send(calls.touch_many(queue, leases, seconds))

    # -- consuming ------------------------------------------------------------

    def consume(
        self,
        queue: str,
        key: str | None = None,
        *,
        lease: float | None = 30.0,
        prefetch: int = 100,
        stop_signals: Iterable[int] | None = (signal.SIGTERM,),
    ) -> AsyncConsumer:
        """Items of `queue` (matching `key`) pushed over the WebSocket.

        With `lease` (seconds; the default, at-least-once) each item is held for
        this consumer until it is acked: when the loop body finishes (the next item
        is asked for), when an `async with item:` block exits, or by `item.ack()`;
        an exception in `async with item:` (or leaving `async with consumer:` by
        one) releases it instead, and it is delivered again. `lease=None` takes items
        at-most-once, as the original protocol does. Up to `prefetch` items (1-1000)
        are in flight to this consumer at once.

        A broken connection is reopened with backoff and the wants sent again; items
        leased on the old connection go back to the queue and come again (possibly
        a second time to this consumer, as at-least-once allows). On a signal of
        `stop_signals` (SIGTERM by default, main thread only) the consumer stops
        handing out items: the one in hand finishes and is acked, and the loop ends.
        """
        consumer = AsyncConsumer(self.options, queue, key, lease, prefetch, stop_signals)
        self._consumers.add(consumer)
        consumer.on_close = self._consumers.discard
        return consumer
