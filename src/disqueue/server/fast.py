"""The API's calls on a plain connection, on the llhttp parser (httptools) with no web
framework between the socket and `http.CALLS`; everything else goes to aiohttp.

Decision 0015 says why and what it risks. In short:

- A request is read whole before anything is done with it: its head up to the first
  blank line (`limits.max_header_bytes` at most), checked by llhttp, then exactly
  `Content-Length` bytes of body. One request is served at a time: pipelined requests
  wait in the buffer and are answered in order.
- Only what is plainly an API call is served here: HTTP/1.0 or 1.1, a method and path
  of `http.CALLS`, a printable ASCII target without a fragment, at most one
  Content-Length, no Transfer-Encoding, Expect, Upgrade or Content-Encoding, a body no
  larger than `limits.max_body_bytes`, not multipart, no header repeated that aiohttp
  refuses twice, a Host on HTTP/1.1. Any other request, and any head llhttp refuses or
  reads differently (bare line feeds), is handed to aiohttp at its first byte: the
  connection becomes an aiohttp connection from there on, which answers exactly as it
  always did. Nothing is ever re-encoded for it.
- The limits are the listener's: the idle timeout runs from the connection's start and
  after each answer until a request's head is complete, the body timeout until its
  body is (then 408, and the connection closed).
- TLS listeners stay on aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

import httptools
from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE
from aiohttp.http_parser import SINGLETON_HEADERS

from disqueue.auth.permissions import Need
from disqueue.config import Limits
from disqueue.errors import DisqueueError, RequestTimeout
from disqueue.server.access import log_access
from disqueue.server.app import RIGHTS, admit, internal, refusal
from disqueue.server.envelope import failure_body, ok_body
from disqueue.server.http import CALLS, Call, Run
from disqueue.server.metrics import Observe
from disqueue.server.params import Params, values
from disqueue.server.state import AUTH, LIMITS, METRICS, SERVICE

log = logging.getLogger("disqueue.server")

#: Request headers that send a request to aiohttp whatever their value.
_HANDED = frozenset({b"transfer-encoding", b"expect", b"upgrade", b"content-encoding",
                     b"sec-websocket-key1"})  # fmt: skip
#: A Content-Type the fast stack reads (a type/subtype token, then parameters or not);
#: others are aiohttp's.
_MEDIA_TYPE = re.compile(rb"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+[ \t]*(;.*)?")
#: How many bytes of requests not being served yet a connection holds (past a head), and
#: of a body before credentials are checked.
_UNREAD = 2**16
#: aiohttp refuses a request with more headers than this.
_MAX_HEADERS = 100
_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}


class Routes:
    """What the fast connections of one listener share: its application's service,
    authentication and limits, and each call with its rights and its observer."""

    def __init__(self, app: web.Application, access_log: bool) -> None:
        self.service = app[SERVICE]
        self.auth = app[AUTH]
        self.limits: Limits = app[LIMITS]
        self.access_log = access_log
        metrics = app[METRICS]
        self.calls: dict[tuple[bytes, bytes], tuple[Run, tuple[Need, ...], Observe, str]] = {
            (method.encode(), path.encode()): (
                run, RIGHTS.get((method, path), ()), metrics.observer(path, method), path,
            )
            for (method, path), run in CALLS.items()
        }  # fmt: skip
        self._date = (0, b"")
        self.connections: set[FastConnection] = set()
        self.eager = self.service.decides_at_once  # see FastConnection._start
        self._out: list[tuple[Any, bytes, bool]] = []  # see send
        self._loop = asyncio.get_running_loop()
        self.answered = asyncio.Event()  # set each time a call is answered (for shut)

    def connection(
        self,
        fallback: Callable[[], asyncio.Protocol],
        opened: Callable[[], None],
        closed: Callable[[], None],
    ) -> FastConnection:
        """A new connection's protocol (see FastConnection)."""
        return FastConnection(self, fallback, opened, closed)

    async def shut(self, grace: float) -> None:
        """For a server shutdown: close idle connections, let calls being served finish
        for up to `grace` seconds, then close the rest."""
        for connection in list(self.connections):
            connection.shut()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                while any(c.busy for c in self.connections):
                    self.answered.clear()
                    await self.answered.wait()
        for connection in list(self.connections):
            connection.abort()

    def send(self, transport: Any, data: bytes, close: bool) -> None:
        """Write `data` (then close, with `close`) once this pass of the event loop has
        read what it will: the answers of a pass leave together, in order, and a client
        busy with several connections is woken once for them, not once each (alone, a
        write after every call made the server slower than a task per call)."""
        self._out.append((transport, data, close))
        if len(self._out) == 1:
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the answers waiting in `send`, now."""
        out, self._out = self._out, []
        for transport, data, close in out:
            if not transport.is_closing():
                transport.write(data)
                if close:
                    transport.close()

    def date(self) -> bytes:
        """The Date header's value, made once a second."""
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, formatdate(now, usegmt=True).encode())
        return self._date[1]


class _Head:
    """What llhttp reads of one request's head (httptools calls these methods)."""

    __slots__ = ("begun", "body_seen", "complete", "headers", "keep_alive", "message_done",
                 "parser", "url")  # fmt: skip

    def __init__(self) -> None:
        self.parser: httptools.HttpRequestParser | None = None
        self.keep_alive = False
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.begun = 0
        self.complete = False
        self.message_done = False
        self.body_seen = False

    def on_message_begin(self) -> None:
        self.begun += 1

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.complete = True
        # Now, not after the head: llhttp forgets the Connection header once a message
        # without a body is complete, and would then say every HTTP/1.1 request keeps
        # the connection and no HTTP/1.0 one does.
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body_seen = True

    def on_message_complete(self) -> None:
        self.message_done = True


@dataclass(slots=True)
class _Request:
    """A request the fast stack serves, once its head is read."""

    route: tuple[Run, tuple[Need, ...], Observe, str]  # the call, its rights, observer, path
    method: bytes
    query: bytes
    version: str
    keep_alive: bool
    head_size: int
    length: int = 0
    kind: str | None = None
    authorization: str | None = None
    started: float = 0.0  # when its head was read (for `/metrics` and the access log)


def read_head(head: bytes, routes: Routes) -> _Request | None:
    """The request whose head is `head` (ending with its blank line), or None when it
    is aiohttp's to answer."""
    seen = _Head()
    parser = seen.parser = httptools.HttpRequestParser(seen)
    try:
        parser.feed_data(head)
    except (httptools.HttpParserError, httptools.HttpParserUpgrade):  # refused, or an upgrade
        return None
    # llhttp must have read the head exactly where we found its end: one message begun,
    # its head complete, no byte of it taken as body or as a second request.
    if seen.begun != 1 or not seen.complete or seen.body_seen:
        return None
    if len(seen.headers) > _MAX_HEADERS or not seen.url.isascii() or b"#" in seen.url:
        return None
    path, _, query = seen.url.partition(b"?")
    method, version = parser.get_method(), parser.get_http_version()
    route = routes.calls.get((method, path))
    if route is None or version not in ("1.1", "1.0"):
        return None
    request = _Request(route, method, query, version, seen.keep_alive, len(head))
    names: set[bytes] = set()
    for name, value in seen.headers:
        if name in _HANDED or b"\x00" in value or not value.isascii():
            return None
        if name in names and name.decode() in SINGLETON_HEADERS:
            return None
        names.add(name)
        if name == b"content-length":
            if not value.isdigit():  # only digits, as aiohttp reads it: else aiohttp's
                return None
            request.length = int(value)
        elif name == b"content-type":
            if _MEDIA_TYPE.fullmatch(value) is None:
                return None
            request.kind = value.split(b";", 1)[0].strip().lower().decode()
        elif name == b"authorization":
            if request.authorization is not None:
                return None
            request.authorization = value.rstrip(b" \t").decode()
    if version == "1.1" and b"host" not in names:
        return None
    if request.kind == "multipart/form-data" or request.length > routes.limits.max_body_bytes:
        return None
    if request.length == 0 and not seen.message_done:
        return None
    return request


class FastConnection(asyncio.Protocol):
    """One plain connection: API calls served here, the rest handed to aiohttp
    (`fallback` makes the aiohttp protocol that takes the connection over)."""

    def __init__(
        self,
        routes: Routes,
        fallback: Callable[[], asyncio.Protocol],
        opened: Callable[[], None],
        closed: Callable[[], None],
    ) -> None:
        self._routes = routes
        self._fallback = fallback
        self._opened, self._closed = opened, closed
        self._transport: Any = None  # uvloop's transport is not an asyncio.Transport
        self._buffer = bytearray()
        self._request: _Request | None = None  # its head read, its body awaited
        self._serving: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None  # at `_timer_at`, for `_due`
        self._timer_at = 0.0
        self._due: float | None = None  # when `_then` runs, if nothing comes first
        self._then: Callable[[], None] = self._close
        self._open = False
        self._reading = True
        self._writable = True
        self._ending = False  # close once the request being served is answered
        self._finished = False  # its last answer is sent: nothing more is read from it
        self._advancing = False  # in `_advance`: `_again` asks it for one more round
        self._again = False
        self._head_limit = routes.limits.max_header_bytes
        # Python 3.11's asyncio.get_running_loop() makes a getpid() system call.
        self._loop = asyncio.get_running_loop()

    # -- the connection -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._open = True
        self._opened()
        self._routes.connections.add(self)
        self._wait_for(self._routes.limits.idle_timeout)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._open:
            self._open = False
            self._closed()
        self._routes.connections.discard(self)
        self._cancel_timer()
        if self._timer is not None:
            self._timer.cancel()
        self._buffer.clear()  # a call being served runs on (as under aiohttp), unanswered

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._serving is None:
            self._advance()
        else:
            self._flow()

    def eof_received(self) -> None:
        """The client has closed its side: the connection closes (as under aiohttp, and
        so a long poll sees its client gone); what was answered leaves first."""
        self._ending = True
        self._routes.flush()

    def pause_writing(self) -> None:
        """The client is not reading its answers: no request is taken from the buffer,
        and the connection is not idle (as under aiohttp, which waits on its write)."""
        self._writable = False
        self._cancel_timer()

    def resume_writing(self) -> None:
        self._writable = True
        if self._serving is None:
            self._wait_for(self._routes.limits.idle_timeout)
            self._advance()

    def shut(self) -> None:
        """For a server shutdown: close now if idle, else after the current answer."""
        self._ending = True
        if self._serving is None:
            self._close()

    def abort(self) -> None:
        """Close now, whatever is being served (its answer is dropped)."""
        self._ending = True
        if self._serving is not None and self._serving is not _STARTING:
            self._serving.cancel()  # as aiohttp cancels its handlers after the grace
        self._routes.flush()
        if self._transport is not None:
            self._transport.close()

    @property
    def busy(self) -> bool:
        return self._serving is not None

    # -- reading requests -----------------------------------------------------------

    def _advance(self) -> None:
        """Serve the whole requests in the buffer, one at a time, then pause or resume
        reading (`_flow`). A call answered at once (`_start`) asks for the next request
        from inside this loop, which serves it: a burst of pipelined requests is a loop,
        not a recursion."""
        if self._advancing:
            self._again = True
            return
        self._advancing = True
        try:
            self._again = True
            while self._again and self._serving is None:
                self._again = False
                self._next()
        finally:
            self._advancing = False
        if self._open:
            self._flow()

    def _flow(self) -> None:
        """Read while the buffer is being taken from or is short; pause while it is not
        (a call is being served, or the client does not read its answers) and holds
        more than a head and 64 KiB (a pipelining client waits for its answers). A
        request whose head is read is never left waiting for a body unread."""
        if self._transport.is_closing():
            return
        waiting = self._serving is not None or not self._writable
        if waiting and len(self._buffer) > self._head_limit + _UNREAD:
            if self._reading:
                self._transport.pause_reading()
                self._reading = False
        elif not self._reading:
            self._transport.resume_reading()
            self._reading = True

    def _next(self) -> None:
        """Start serving the next whole request in the buffer, if there is one (none
        once closing: a transport draining its last answer resumes writing, and what
        follows that answer is dropped unread)."""
        if self._finished or not self._open or not self._writable:
            return
        if self._transport.is_closing():
            return
        request = self._request
        buffer = self._buffer
        if request is None:
            end = buffer.find(b"\r\n\r\n", 0, self._head_limit + 4)
            if end < 0:
                if len(buffer) > self._head_limit or (self._ending and buffer):
                    self._hand_off()  # aiohttp answers the over-long or cut-off head
                elif self._ending:
                    self._close()
                return
            request = read_head(bytes(buffer[: end + 4]), self._routes)
            # aiohttp checks credentials before it reads a body: a large body still to
            # come on a listener with authentication is its to read, so that no client
            # without credentials makes the server hold `max_body_bytes` of it.
            if request is None or (
                self._routes.auth is not None
                and request.length > _UNREAD
                and len(buffer) < request.head_size + request.length
            ):
                self._hand_off()
                return
            request.started = time.perf_counter()
            self._request = request
            self._wait_for(self._routes.limits.body_timeout, self._body_late)
        size = request.head_size + request.length
        if len(buffer) < size:
            if self._ending:
                self._close()
            return
        body = bytes(buffer[request.head_size : size]) if request.length else None
        del buffer[:size]
        self._request = None
        self._cancel_timer()
        self._start(self._serve(request, body))

    def _start(self, serve: Coroutine[Any, Any, None]) -> None:
        """Run `serve` up to its first wait now, rather than in a task of its own: on
        storage that decides at once (memory, SQLite) a call that waits for nothing is
        answered here, and one that waits (a commit) goes on in a task from where it
        stopped. Other storage (PostgreSQL: its driver's timeouts need a task around
        them from the start) gets a task at once."""
        if not self._routes.eager:
            self._serving = self._loop.create_task(serve)
            return
        self._serving = _STARTING
        try:
            waits_for = serve.send(None)
        except StopIteration:
            return
        except BaseException:
            self._serving = None
            raise
        self._serving = self._loop.create_task(_Resumed(serve, waits_for).run())

    def _hand_off(self) -> None:
        """Give the connection, from the first byte of the request in the buffer on, to
        aiohttp."""
        self._routes.flush()  # the answers before this request leave before aiohttp's
        self._cancel_timer()
        if self._timer is not None:
            self._timer.cancel()
        protocol = self._fallback()
        data = bytes(self._buffer)
        self._buffer.clear()
        self._open = False
        self._closed()  # aiohttp's protocol counts the connection from here on
        self._routes.connections.discard(self)
        transport = self._transport
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if not self._reading:
            transport.resume_reading()
        if data:
            protocol.data_received(data)

    # -- answering ------------------------------------------------------------------

    async def _serve(self, request: _Request, body: bytes | None) -> None:
        run, needs, _, path = request.route
        headers: dict[str, str] | None = None
        try:
            status, payload = 200, ok_body(await self._call(request, body, run, needs, path))
        except DisqueueError as exc:
            method = request.method.decode()
            headers = refusal(exc, self._routes.auth, method, path, self._remote())
            status, payload = exc.status, failure_body(exc.message)
        except Exception as exc:
            problem = internal(exc, request.method.decode(), path)
            status, payload = problem.status, failure_body(problem.message)
        self._serving = None
        self._routes.answered.set()
        self._answer(request, status, payload, headers)

    async def _call(
        self, request: _Request, body: bytes | None, run: Run, needs: tuple[Need, ...], path: str
    ) -> Any:
        parsed: list[Params] = []

        async def params() -> Params:
            if not parsed:
                parsed.append(Params(values(request.query, request.kind, body)))
            return parsed[0]

        routes = self._routes
        remote = self._remote() if routes.auth is not None else None
        access = await admit(routes.auth, needs, path, request.authorization, remote, params)
        return await run(Call(routes.service, await params(), access, self._gone))

    def _answer(
        self, request: _Request, status: int, body: bytes, headers: dict[str, str] | None
    ) -> None:
        """Count and log the answer as aiohttp does (`/metrics`, the access log with the
        bytes of the whole answer), and send it if the connection is still open."""
        keep = request.keep_alive and not self._ending
        version = b"HTTP/1.0 " if request.version == "1.0" else b"HTTP/1.1 "
        # The headers in aiohttp's order: the answer's own (a 401's challenge, a 429's
        # Retry-After) first, Connection last.
        extra = b""
        if headers:
            extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode()
        connection = b""
        if request.version == "1.0" and keep:
            connection = b"Connection: keep-alive\r\n"
        elif request.version == "1.1" and not keep:
            connection = b"Connection: close\r\n"
        answer = (
            b"%s%d %s\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Date: %s\r\nServer: %s\r\n%s\r\n%s"
            % (version, status, _REASONS.get(status, b"Unknown"), extra, len(body),
               self._routes.date(), _SERVER, connection, body)
        )  # fmt: skip
        _, _, observe, path = request.route
        elapsed = time.perf_counter() - request.started
        observe(status, elapsed)
        if self._routes.access_log:
            log_access(self._remote(), request.method.decode(), path, status, len(answer),
                       elapsed)  # fmt: skip
        if not self._open:
            return
        self._routes.send(self._transport, answer, not keep)
        if not keep:
            self._finished = True
            self._cancel_timer()
            return
        if self._writable:  # else from when the client reads again (resume_writing)
            self._wait_for(self._routes.limits.idle_timeout)
        if self._buffer or self._ending:
            self._advance()

    def _body_late(self) -> None:
        """The body did not arrive within `limits.body_timeout`: 408, and closed."""
        request, self._request = self._request, None
        if request is None or not self._open:
            return
        self._ending = True
        exc = RequestTimeout()
        self._answer(request, exc.status, failure_body(exc.message), None)

    def _gone(self) -> bool:
        return not self._open or self._transport.is_closing()

    def _remote(self) -> str | None:
        peer = self._transport.get_extra_info("peername") if self._transport else None
        return str(peer[0]) if isinstance(peer, tuple | list) and peer else None

    # -- timers ---------------------------------------------------------------------

    def _wait_for(self, seconds: float, then: Callable[[], None] | None = None) -> None:
        """Run `then` (default: close) in `seconds` unless another wait or a cancel comes
        first. One loop timer serves many waits: it is moved only to an earlier time."""
        loop = self._loop
        self._due, self._then = loop.time() + seconds, then or self._close
        if self._timer is None or self._timer_at > self._due:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._timer_at = loop.call_at(self._due, self._tick), self._due

    def _tick(self) -> None:
        self._timer = None
        if self._due is None:
            return
        loop = self._loop
        if loop.time() < self._due:
            self._timer, self._timer_at = loop.call_at(self._due, self._tick), self._due
            return
        self._due = None
        self._then()

    def _cancel_timer(self) -> None:
        self._due = None

    def _close(self) -> None:
        self._routes.flush()  # answers already given leave first
        self._cancel_timer()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


_SERVER = SERVER_SOFTWARE.encode()


class _Starting:
    """`FastConnection._serving` while a call runs its first step outside a task."""


_STARTING: Any = _Starting()


class _Resumed:
    """A coroutine that ran its first step outside any task, continued inside one: each
    future it waits for is handed to the task as its own (what `await` on that future
    does), and the task's wake-ups and cancellation go back into it."""

    __slots__ = ("coro", "waits_for")

    def __init__(self, coro: Coroutine[Any, Any, None], waits_for: Any) -> None:
        self.coro, self.waits_for = coro, waits_for

    async def run(self) -> None:
        await self

    def __await__(self) -> Generator[Any, None, None]:
        waits_for = self.waits_for
        while True:
            try:
                yield waits_for  # a future (still marked blocking), or None: a bare yield
            except BaseException as exc:  # the task was cancelled, or thrown into
                try:
                    waits_for = self.coro.throw(exc)
                except StopIteration:
                    return
                continue
            try:
                waits_for = self.coro.send(None)
            except StopIteration:
                return
