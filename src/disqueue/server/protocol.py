"""The connections of a listener: aiohttp's HTTP protocol, with the server's limits.

- A request aiohttp's parser refuses before any handler runs (a malformed request
  line, bad header, an over-long line) is still answered in the JSON envelope: 431
  `request header too large` for a line over `limits.max_header_bytes`, 400
  `malformed request` otherwise (aiohttp has no hook for this: aio-libs/aiohttp#3287,
  so `handle_error`, its documented override point, is overridden).
- Past `limits.max_connections` open connections (all listeners together), a new
  connection is answered 503 `too many connections` and closed.
- `limits.idle_timeout` is aiohttp's keep-alive timeout, which also runs from a
  connection's start and is not reset by bytes that do not complete a request
  header: a client sending its header one byte a second is cut off with the idle ones.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

from disqueue.config import Limits
from disqueue.errors import BadRequest, DisqueueError, HeaderTooLarge
from disqueue.server.envelope import error, failure_body
from disqueue.server.fast import Routes

log = logging.getLogger("disqueue.server")

#: How long a refused connection may take to send what it sent before it is closed.
_REFUSED_LINGER = 1.0


class ConnectionCount:
    """Open connections of the whole process, against `limits.max_connections`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    @property
    def full(self) -> bool:
        return self.open >= self.limit


class _Connection(web.RequestHandler):
    """One HTTP connection (and, after an upgrade, its WebSocket)."""

    def __init__(self, manager: web.Server, count: ConnectionCount, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._count = count
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._count.open += 1
        self._counted = True
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._counted:
            self._counted = False
            self._count.open -= 1
        super().connection_lost(exc)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """A body that cannot be decoded, met while aiohttp skips what a handler left
        unread (its answer is sent already), is the client's fault: one debug line,
        not an error with a traceback."""
        exc = kw.get("exc_info")
        if isinstance(exc, web.RequestPayloadError | HttpProcessingError):
            log.debug("request body refused: %s", exc)
            return
        super().log_exception(*args, **kw)

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's answer to a request it could not parse, in the envelope."""
        problem: DisqueueError
        if isinstance(exc, LineTooLong):
            problem = HeaderTooLarge()
        elif status == 400:
            problem = BadRequest("malformed request")
        else:
            problem = DisqueueError(f"internal error: {type(exc).__name__}")
        log.debug("request from %s refused: %s", request.remote, message or exc)
        if request.writer.output_size > 0:
            raise ConnectionError("the answer had begun; the connection is closed")
        response = error(problem)
        response.force_close()
        return response


class _Refused(asyncio.Protocol):
    """A connection over the cap: a 503 in the envelope, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport = transport
        body = failure_body("too many connections")
        transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        # Close once the client's request is read (closing on unread data would reset
        # the connection and could lose the answer), or after a moment.
        self.timer = asyncio.get_running_loop().call_later(_REFUSED_LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        self.timer.cancel()
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.timer.cancel()


def protocol_factory(
    server: web.Server,
    count: ConnectionCount,
    limits: Limits,
    access: dict[str, Any] | None = None,
    fast: Routes | None = None,
) -> Any:  # a protocol factory for loop.create_server
    """Make the protocol of each new connection of one listener (`access`: the access
    log's options, as `web.AppRunner` takes them; none by default). With `fast`, a
    connection starts on the fast stack (`fast.py`), which hands it to aiohttp for
    anything but the API's calls."""
    loop = asyncio.get_running_loop()
    options: dict[str, Any] = {
        "loop": loop,
        "access_log": None,
        **(access or {}),
        "keepalive_timeout": float(limits.idle_timeout),
        "max_line_size": limits.max_header_bytes,
        "max_field_size": limits.max_header_bytes,
    }

    def aiohttp() -> asyncio.Protocol:
        return _Connection(server, count, **options)

    def opened() -> None:
        count.open += 1

    def closed() -> None:
        count.open -= 1

    def make() -> asyncio.Protocol:
        if count.full:
            log.warning("connection refused: %d connections open", count.open)
            return _Refused()
        if fast is not None:
            return fast.connection(aiohttp, opened, closed)
        return aiohttp()

    return make
