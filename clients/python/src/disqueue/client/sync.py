"""`Client`: the whole HTTP API, synchronously, over one keep-alive connection pool."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

import httpx

from disqueue.client import calls
from disqueue.client.calls import Call, Lease, NewItem
from disqueue.client.errors import ConnectionFailed
from disqueue.client.models import Item, QueueInfo, Settled
from disqueue.client.options import Options

if TYPE_CHECKING:
    from disqueue.client.sync_consumer import Consumer

T = TypeVar("T")


def http_settings(options: Options) -> dict[str, Any]:
    """The keyword arguments of `httpx.Client`/`httpx.AsyncClient` for `options`."""
    return {
        "base_url": options.url,
        "auth": options.auth,
        "verify": options.ssl_context or True,
        "timeout": options.timeout,
        "trust_env": False,  # no proxies or .netrc credentials picked up silently
    }


JSON_HEADERS = {"Content-Type": "application/json"}


def request_settings(call: Call[Any], options: Options) -> dict[str, Any]:
    """The keyword arguments of one `request`: body and a timeout that covers `wait`."""
    settings: dict[str, Any] = {"data": call.form, "timeout": options.timeout + call.wait}
    if call.json is not None:
        settings["content"] = calls.json_body(call.json)
        settings["headers"] = JSON_HEADERS
    return settings


def connection_failed(exc: Exception, options: Options) -> ConnectionFailed:
    """A transport failure (of httpx, or aiohttp's client), as the client's error."""
    return ConnectionFailed(f"cannot reach {options.url}: {exc or type(exc).__name__}")


class Client:
    """A synchronous Disqueue client: one method per API action (docs/API.md).

    >>> with Client("http://127.0.0.1:3682") as client:   # doctest: +SKIP
    ...     queue = client.create_queue()
    ...     client.put(queue, "hello")
    ...     client.take(queue).value
    'hello'

    `url` and `auth` default to `DISQUEUE_URL`, `DISQUEUE_USER` and
    `DISQUEUE_PASSWORD`. For https: `ca_file` to trust, `cert` (and `key`) to
    present a client certificate, `verify=False` to skip verification. Every
    failure raises a `ClientError` subclass.
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
        self._http = httpx.Client(**http_settings(self.options))

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def send(self, call: Call[T]) -> T:
        """Send one call and read its answer (the methods below are built on this)."""
        try:
            response = self._http.request(
                call.method, call.path, **request_settings(call, self.options)
            )
        except httpx.HTTPError as exc:
            raise connection_failed(exc, self.options) from exc
        return calls.read_answer(call, response.status_code, response.content)

    # -- queues ---------------------------------------------------------------

    def queues(self) -> list[str]:
        """The names of every queue, oldest first."""
        return self.send(calls.queues())

    def create_queue(
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
        return self.send(
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

    def info(self, queue: str) -> QueueInfo:
        """The queue's depths, settings and totals."""
        return self.send(calls.info(queue))

    def stats(self) -> list[QueueInfo]:
        """Every queue's depths and totals in one request (`GET /stats`; `size` is the
        ready count; settings and `created` are not included)."""
        return self.send(calls.stats())

    def delete_queue(self, queue: str) -> None:
        """Delete the queue and its items."""
        self.send(calls.delete_queue(queue))

    def purge(self, queue: str, *, in_flight: bool = False) -> int:
        """Remove every ready and delayed item (with `in_flight`, those in flight too,
        whose receipts then name nothing); how many were removed."""
        return self.send(calls.purge(queue, in_flight=in_flight))

    def change_settings(self, queue: str, **changes: Any) -> QueueInfo:
        """Change some of a queue's settings at once (`lease`, `max_attempts`,
        `dead_letter`, `max_items`, `retry_delays`, `delay`, `ttl`; None clears one)."""
        return self.send(calls.change_settings(queue, changes))

    def redrive(self, queue: str, *, to: str | None = None, count: int | None = None) -> int:
        """Send up to `count` (default all) dead letters of `queue`, oldest first, back to
        `to` or to the queue each came from, attempts reset; how many moved."""
        return self.send(calls.redrive(queue, to, count))

    def pause(self, queue: str) -> QueueInfo:
        """Stop deliveries from `queue` (puts go on, leases run on)."""
        return self.send(calls.pause(queue))

    def resume(self, queue: str) -> QueueInfo:
        """Deliver from `queue` again."""
        return self.send(calls.resume(queue))

    # -- items ----------------------------------------------------------------

    def put(
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
        """Put one item (`priority` 0-9: the highest is taken first); its id."""
        fields = calls.put_fields(
            queue, value, key, delay=delay, ttl=ttl, dedup_id=dedup_id, headers=headers,
            priority=priority,
        )  # fmt: skip
        return self.send(calls.put(fields))

    def put_many(self, queue: str, items: Iterable[NewItem]) -> list[str]:
        """Put items in batches of 1000 (each batch stored whole or not at all); their ids."""
        ids: list[str] = []
        for batch in calls.batches(items):
            stored: list[str] = self.send(calls.put_many(queue, batch))
            ids.extend(stored)
        return ids

    @overload
    def take(
        self, queue: str, key: str | None = None, *, lease: float | None = None,
        wait: float | None = None, count: None = None,
    ) -> Item: ...  # fmt: skip
    @overload
    def take(
        self, queue: str, key: str | None = None, *, lease: float | None = None,
        wait: float | None = None, count: int,
    ) -> list[Item]: ...  # fmt: skip
    def take(
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
        result: Item | list[Item] = self.send(
            calls.take(queue, key, lease=lease, wait=wait, count=count)
        )
        return result

    def peek(self, queue: str, key: str | None = None) -> Item:
        """The item `take` would give, left in place. Raises `NoItem`."""
        return self.send(calls.peek(queue, key))

    def ack(self, queue: str, lease: Lease) -> None:
        """Acknowledge a leased item (the `Item` taken, or its receipt): it is done and
        removed. Raises `NoSuchLease` if that delivery's lease is no longer live."""
        self.send(calls.ack(queue, lease))

    def release(self, queue: str, lease: Lease, delay: float | None = None) -> None:
        """Give a leased item back to the front of its queue (after `delay` seconds)."""
        self.send(calls.release(queue, lease, delay))

    def touch(self, queue: str, lease: Lease, seconds: float) -> float:
        """Extend a lease to `seconds` from now; the new expiry (Unix time)."""
        return self.send(calls.touch(queue, lease, seconds))

    def ack_many(self, queue: str, leases: Iterable[Lease]) -> Settled:
        """Acknowledge up to 1000 leased items at once, by receipt."""
        return self.send(calls.ack_many(queue, leases))

    def release_many(
        self, queue: str, leases: Iterable[Lease], delay: float | None = None
    ) -> Settled:
        """Give up to 1000 leased items back, in their order, by receipt."""
        return self.send(calls.release_many(queue, leases, delay))

    def touch_many(self, queue: str, leases: Iterable[Lease], seconds: float) -> Settled:
        """Extend up to 1000 leases to `seconds` from now, by receipt."""
        return self.send(calls.touch_many(queue, leases, seconds))

    # -- consuming ------------------------------------------------------------

    def consume(
        self,
        queue: str,
        key: str | None = None,
        *,
        lease: float | None = 30.0,
        prefetch: int = 100,
        stop_signals: Iterable[int] | None = None,
    ) -> Consumer:
        """Items pushed over the WebSocket, for a worker loop::

            with client.consume(queue) as items:
                for item in items:
                    handle(item.value)   # acked when the body finishes, released if it raises

        See `AsyncClient.consume` for the arguments.
        """
        from disqueue.client.sync_consumer import Consumer

        return Consumer(self.options, queue, key, lease, prefetch, stop_signals)
