"""server/fast.py's connection, driven by hand with a stand-in transport: the orders of
events a real socket makes rare (tests/e2e/test_fast_http*.py send real bytes)."""

from __future__ import annotations

import asyncio
from typing import Any

from disqueue.config import Limits
from disqueue.server.fast import FastConnection, Routes


class _Transport:
    """What FastConnection uses of a transport. Writing pauses the protocol past
    `high` bytes, as a transport whose client does not read does."""

    def __init__(self, high: int) -> None:
        self.written: list[bytes] = []
        self.closing = False
        self.high = high
        self.protocol: FastConnection | None = None

    def write(self, data: bytes) -> None:
        self.written.append(data)
        if len(data) > self.high and self.protocol is not None:
            self.protocol.pause_writing()

    def close(self) -> None:
        self.closing = True  # draining: resume_writing comes before connection_lost

    def is_closing(self) -> bool:
        return self.closing

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else None


class _Routes:
    """The Routes of a listener without authentication, whose one call is `GET /x`
    (on storage that decides at once: calls start outside a task). Answers leave as
    Routes sends them, together at the end of the loop's pass."""

    send = Routes.send
    flush = Routes.flush

    def __init__(self) -> None:
        self.eager = True
        self._out: list[tuple[Any, bytes, bool]] = []
        self._loop = asyncio.get_running_loop()
        self.service = None
        self.auth = None
        self.limits = Limits()
        self.access_log = False
        self.connections: set[FastConnection] = set()
        self.answered = asyncio.Event()
        self.ran: list[str] = []
        self.calls = {(b"GET", b"/x"): (self._run, (), lambda status, seconds: None, "/x")}

    async def _run(self, call: Any) -> str:
        self.ran.append(call.params.get("n"))
        return call.params.get("n") + "x" * 1000

    def date(self) -> bytes:
        return b"D"


async def test_nothing_after_connection_close_is_run_while_the_answer_drains() -> None:
    """A large answer to a `Connection: close` request pauses writing; the transport,
    closing, resumes it once drained. The request pipelined after was then run (a put
    stored, unanswered), where it is to be dropped unread."""
    routes = _Routes()
    transport = _Transport(high=500)
    connection = FastConnection(routes, lambda: asyncio.Protocol(), lambda: None, lambda: None)  # type: ignore[arg-type]
    transport.protocol = connection
    connection.connection_made(transport)  # type: ignore[arg-type]
    connection.data_received(
        b"GET /x?n=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        b"GET /x?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    for _ in range(5):
        await asyncio.sleep(0)
    assert transport.closing and routes.ran == ["1"]
    connection.resume_writing()  # drained
    for _ in range(5):
        await asyncio.sleep(0)
    assert routes.ran == ["1"] and len(transport.written) == 1
    connection.connection_lost(None)


class _Aiohttp(asyncio.Protocol):
    """The protocol a hand-off gives the connection to: what had been written on the
    transport when it took over, and the bytes it was given."""

    def __init__(self, transport: _Transport) -> None:
        self.transport = transport
        self.written_before: int | None = None
        self.data = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.written_before = len(self.transport.written)

    def data_received(self, data: bytes) -> None:
        self.data += data


async def test_answers_of_a_pass_leave_together_in_order_and_before_a_hand_off() -> None:
    """Calls that wait for nothing are answered at once, but their answers are written
    at the end of the loop's pass, in order; a request for aiohttp after them gets the
    connection only once they are written."""
    routes = _Routes()
    transport = _Transport(high=10**9)
    aiohttp = _Aiohttp(transport)
    connection = FastConnection(routes, lambda: aiohttp, lambda: None, lambda: None)  # type: ignore[arg-type]
    transport.protocol = connection
    connection.connection_made(transport)  # type: ignore[arg-type]
    connection.data_received(
        b"GET /x?n=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /x?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert routes.ran == ["1", "2"] and transport.written == []  # answered, not yet sent
    await asyncio.sleep(0)
    bodies = [answer.split(b"\r\n\r\n", 1)[1] for answer in transport.written]
    assert [body[body.index(b'"payload":"') + 11] for body in bodies] == [ord("1"), ord("2")]
    connection.data_received(
        b"GET /x?n=3 HTTP/1.1\r\nHost: x\r\n\r\nGET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert routes.ran == ["1", "2", "3"]
    assert aiohttp.written_before == 3  # the third answer left before aiohttp took over
    assert aiohttp.data == b"GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n"
