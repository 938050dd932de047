"""`AsyncClient.put` on a WebSocket the client keeps open (docs/API.md "WebSocket put").

A put over HTTP through aiohttp's client costs about 0.2 ms more on loopback than the
same put as a message on an open `/take/ws` (0.28 against 0.09 ms to a server on memory
storage): the request's machinery on both sides, not the network. So a client's single
puts go as messages on one connection of its own, opened at its first put.

- **One at a time.** A put made while another is on its way goes over HTTP, as before.
  On PostgreSQL the server does a connection's messages one after another, so a socket
  shared by concurrent puts would make them wait for each other; HTTP spreads them over
  its pool.
- **The same answers.** The server answers an op with the HTTP status of the same failure
  (`payload.status`), so the error raised is the one HTTP would raise. A put too large for
  a message of this size (`MAX_FRAME`) goes over HTTP and gets HTTP's answer.
- **When the socket is not to be had** (the upgrade refused: wrong credentials, too many
  connections, a proxy that passes no WebSocket; the server unreachable) the put goes over
  HTTP, which answers what it answers, and the socket is tried again after `RETRY`
  seconds (never again after a 401 or 403: the credentials do not change). With
  credentials it is first opened once an HTTP answer of this client showed them good: a
  refused upgrade is a failed login of its own, and the put then goes over HTTP for
  another, so wrong credentials would reach the server's `max_failed_logins` twice as fast.
- **Messages the server reads no further than** (over its `max_body_bytes`: it closes
  with 1009, the put unread) go over HTTP, which answers 413, and so do the puts of
  that size after them. So do puts with numbers JSON has no text for (NaN, infinities:
  orjson would write null) or that orjson cannot write (integers over 64 bits): HTTP
  refuses them as invalid parameters.
- **A lost connection** while a put is on its way raises `ConnectionFailed`, as a lost
  HTTP request does: the put may or may not be stored. The next put opens a new one.
  So it does after a put given up on (no answer within the timeout, or cancelled), as
  HTTP takes a new connection after a request it gave up on: a connection that went
  silent (a NAT or firewall that forgot it) would hold every later put for its timeout,
  until TCP gives up a quarter of an hour later.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from typing import Any

import aiohttp
import orjson

from disqueue.client.errors import ConnectionFailed, error_for
from disqueue.client.options import Options

#: Seconds before a socket that could not be opened is tried again.
RETRY = 5.0
#: Puts whose message would be larger than this (bytes) go over HTTP.
MAX_FRAME = 64 * 1024
#: Seconds of silence after which the socket pings the server; no pong within half as
#: long closes it. A connection gone silent while the client was idle is so found before
#: a put waits on it, as aiohttp lets an HTTP connection idle for 15 s go.
HEARTBEAT = 10.0


class NoSocket(Exception):
    """The WebSocket could not be opened (nothing was sent): the caller goes over HTTP,
    which answers what the server has to say (wrong credentials, too many connections),
    or fails as HTTP does. `status`: that of a refused upgrade."""

    def __init__(self, status: int | None = None) -> None:
        super().__init__(status)
        self.status = status


async def open_socket(
    session: aiohttp.ClientSession, options: Options, **settings: Any
) -> aiohttp.ClientWebSocketResponse:
    """`/take/ws` on `session`, waited for no longer than the client's timeout (then
    `ConnectionFailed`: HTTP would wait as long again for nothing); `NoSocket` if it is
    refused or cannot be reached."""
    try:
        return await asyncio.wait_for(
            session.ws_connect(options.ws_url, max_msg_size=0, **settings), options.timeout
        )
    except TimeoutError as exc:
        raise ConnectionFailed(f"cannot reach {options.ws_url}: no answer") from exc
    except aiohttp.WSServerHandshakeError as exc:
        raise NoSocket(exc.status) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise NoSocket from exc


class _Unread(ConnectionError):
    """The socket closed with 1009: the server did not read the put waiting on it."""


class OpSocket:
    """The WebSocket of one `AsyncClient` for its puts; `put` returns None when the put
    is to go over HTTP instead (nothing was sent)."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        # The puts waiting for an answer on the socket `_ws` (each socket its own).
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._dropped: set[asyncio.Task[bool]] = set()  # closing (`_drop`)
        self._busy = False
        self._retry_at = 0.0
        self._refused = False
        self._trusted = options.auth is None  # (`heard`)
        self._max_frame = MAX_FRAME  # lowered by a 1009 close
        self._sequence = itertools.count(1)

    async def put(self, session: aiohttp.ClientSession, fields: dict[str, Any]) -> str | None:
        """Put the item of `fields` (the op's fields but `op` and `identifier`); its id,
        or None if it must go over HTTP."""
        if self._busy or self._refused or not self.trusted or time.monotonic() < self._retry_at:
            return None
        if any(isinstance(given, float) and not math.isfinite(given) for given in fields.values()):
            return None  # JSON has no NaN or infinity: orjson would write null
        identifier = next(self._sequence)
        try:
            frame = orjson.dumps({"op": "put", "identifier": identifier, **fields})
        except orjson.JSONEncodeError:  # an integer over 64 bits: HTTP says what is wrong
            return None
        if len(frame) > self._max_frame:
            return None
        self._busy = True
        try:
            ws = await self._open(session)
            if ws is None:
                return None
            # By identifier: the answer to a put given up on (timed out, cancelled) may
            # still come, and goes to nobody.
            waiting = self._waiting
            answer = waiting[identifier] = asyncio.get_running_loop().create_future()
            try:
                await ws.send_str(frame.decode())
                reply = await asyncio.wait_for(answer, self.options.timeout)
            except _Unread:  # (the last message sent, or after the one too large)
                self._max_frame = min(self._max_frame, len(frame) - 1)
                return None
            except (ConnectionError, RuntimeError, aiohttp.ClientError, TimeoutError) as exc:
                if isinstance(exc, TimeoutError):
                    self._drop(ws)
                raise ConnectionFailed(
                    f"cannot reach {self.options.ws_url}: {str(exc) or type(exc).__name__} "
                    "(the put may or may not be stored)"
                ) from exc
            except asyncio.CancelledError:
                self._drop(ws)
                raise
            finally:
                waiting.pop(identifier, None)
        finally:
            self._busy = False
        payload = reply["payload"]
        if reply.get("success") is True:
            return str(payload["item_id"])
        status = payload.get("status")
        raise error_for(status if isinstance(status, int) else None, str(reply.get("message")))

    async def _open(self, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse | None:
        ws = self._ws
        if ws is not None and not ws.closed:
            return ws
        try:
            ws = await open_socket(
                session,
                self.options,
                timeout=aiohttp.ClientWSTimeout(ws_close=self.options.timeout),
                heartbeat=HEARTBEAT,
            )
        except ConnectionFailed:
            self._retry_at = time.monotonic() + RETRY
            raise
        except NoSocket as exc:
            self._refused = exc.status in (401, 403)
            self._retry_at = time.monotonic() + RETRY
            return None
        self._ws, self._waiting = ws, {}
        self._reader = asyncio.get_running_loop().create_task(self._read(ws, self._waiting))
        return ws

    def _drop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Close `ws` in the background; the next put opens another."""
        if self._ws is ws:
            self._ws = None
        closing = asyncio.get_running_loop().create_task(ws.close())
        self._dropped.add(closing)
        closing.add_done_callback(self._dropped.discard)

    async def _read(
        self, ws: aiohttp.ClientWebSocketResponse, waiting: dict[int, asyncio.Future[Any]]
    ) -> None:
        """Hand each answer to the put waiting for it; reading also answers the server's
        pings, so an idle socket stays open."""
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                reply = None
                with contextlib.suppress(ValueError):
                    reply = orjson.loads(message.data)
                payload = reply.get("payload") if isinstance(reply, dict) else None
                number = payload.get("id") if isinstance(payload, dict) else None
                answer = waiting.get(number) if isinstance(number, int) else None
                if answer is not None and not answer.done():
                    answer.set_result(reply)
        except aiohttp.ClientError:
            pass
        finally:
            if self._ws is ws:
                self._ws = None
            # 1009: the server read no further than a message over its limit.
            too_big = ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
            for answer in waiting.values():
                if not answer.done():
                    kind = _Unread if too_big else ConnectionError
                    answer.set_exception(kind(f"connection closed ({ws.close_code})"))

    @property
    def trusted(self) -> bool:
        """Whether a WebSocket of this client may be opened: no credentials, or an HTTP
        answer showed them good (`heard`). Before, a refused upgrade would be a failed
        login of its own, beside the HTTP request's."""
        return self._trusted

    def heard(self, status: int) -> None:
        """An HTTP answer of `status` to this client: any but 401, 403 or 429 (which may
        be `too many failed logins`) shows its credentials good."""
        if status not in (401, 403, 429):
            self._trusted = True

    async def close(self) -> None:
        """Close the connection (at `AsyncClient.aclose`)."""
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        for closing in list(self._dropped):  # (a silent one would wait for its timeout)
            closing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await closing
