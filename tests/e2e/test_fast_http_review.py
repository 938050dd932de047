"""More of the fast HTTP stack (server/fast.py, decision 0015) against aiohttp's, from a
review of it: each test here failed on the fast stack before its fix. The same raw
bytes go to a listener on each stack (tests/e2e/test_fast_http.py's `same`)."""

from __future__ import annotations

import contextlib
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import Server, running
from .test_fast_http import LIMITS, QUEUE, _form, _port, exchange, pair, same, status

__all__ = ["pair"]  # the fixture: two servers alike but for their HTTP stack


@contextlib.contextmanager
def pair_with(folder: Path, config: dict[str, Any]) -> Iterator[tuple[Server, Server]]:
    """Two servers with `config` (and QUEUE), alike but for their listener's stack."""

    def stack(http: str) -> dict[str, Any]:
        listeners = [{**listener, "http": http} for listener in config.get("servers", [{}])]
        return {**config, "servers": listeners}

    with (
        running(folder / "fast", stack("fast")) as fast,
        running(folder / "aiohttp", stack("aiohttp")) as slow,
    ):
        for server in (fast, slow):
            assert status(exchange(server, _form("/queues", f"name={QUEUE}"))) == [200]
        yield fast, slow


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """A pair whose bodies may be larger than what the fast stack buffers unread."""
    limits = {**LIMITS, "max_body_bytes": 1 << 20, "body_timeout": 2}
    with pair_with(tmp_path_factory.mktemp("large"), {"limits": limits}) as servers:
        yield servers


# -- Connection: close and keep-alive on requests without a body ----------------------------


@pytest.mark.parametrize(
    "request_",
    [
        b"GET /queues HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        f"POST /take?name={QUEUE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
        b"GET /queues HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    ],
)
def test_connection_close_on_a_request_without_a_body(
    pair: tuple[Server, Server], request_: bytes
) -> None:
    """llhttp forgets the Connection header once a bodiless message is complete: the
    fast stack read keep-alive after that, so it kept these connections open."""
    answer = same(pair, request_)
    assert b"\r\nConnection: close\r\n" in answer and answer.endswith(b"<closed>")


@pytest.mark.parametrize(
    "request_",
    [
        b"GET /queues HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        f"POST /take?name={QUEUE} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode(),
    ],
)
def test_http_1_0_keep_alive_without_a_body(pair: tuple[Server, Server], request_: bytes) -> None:
    """...and closed these, which asked to be kept."""
    answer = same(pair, request_ + request_)
    assert len(status(answer)) == 2 and answer.endswith(b"<open>")


# -- flow control: reading pauses, and resumes ------------------------------------------------


def test_a_large_body_pipelined_behind_a_long_poll(large: tuple[Server, Server]) -> None:
    """Reading paused while the take waited, with the put's head and part of its body in
    the buffer; the fast stack then waited for the rest of the body without reading it
    again, and answered the put 408."""
    put = _form("/put", f"name={QUEUE}&value={'v' * 500_000}")
    answer = same(large, _form("/take", f"name={QUEUE}&wait=0.2") + put)
    assert status(answer) == [404, 200]


def _sent_before_stalling(server: Server, request: bytes, most: int) -> int:
    """How many bytes of `request`s, pipelined, a client that never reads its answers
    could send before the server stopped reading (or `most`)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", _port(server)))
        sock.setblocking(False)
        chunk, sent = request * (65536 // len(request)), 0
        while sent < most and select.select([], [sock], [], 2.0)[1]:
            with contextlib.suppress(BlockingIOError):
                sent += sock.send(chunk)
        return sent


def test_a_client_that_never_reads_its_answers_is_not_read_from(
    pair: tuple[Server, Server],
) -> None:
    """Once its answers filled the connection, the fast stack went on reading (and
    keeping) every request the client sent, without bound; now it stops reading, as
    aiohttp does."""
    most = 64 << 20
    for server in pair:
        sent = _sent_before_stalling(server, b"GET /queues HTTP/1.1\r\nHost: x\r\n\r\n", most)
        assert sent < most // 4, server.config["servers"]
