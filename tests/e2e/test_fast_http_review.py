"""More of the fast HTTP stack (server/fast.py, decision 0015) against aiohttp's, from a
review of it: each test here failed on the fast stack before its fix. The same raw
bytes go to a listener on each stack (tests/e2e/test_fast_http.py's `same`)."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import Server, basic, running
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


# -- authentication, /metrics and the access log ----------------------------------------------

PASSWORDS = "alice:$plain$pw\nbob:$plain$pw\n"
READABLE = str(uuid.uuid4())  # bob may read this queue, and nothing else


def _auth_config(max_failed_logins: int, **limits: int) -> dict[str, Any]:
    """A listener with Basic authentication and permissions (the stack under test), and
    an open one on aiohttp to read /metrics from; access lines in JSON."""
    return {
        "servers": [{"authentication": "default"}, {"http": "aiohttp"}],
        "authentication": {
            "default": {
                "type": "plaintext",
                "file": "passwords",
                "permissions": {"alice": {"*": "rwm"}, "bob": {READABLE: "r"}},
            }
        },
        "limits": {**LIMITS, "max_failed_logins": max_failed_logins, **limits},
        "log": {"access": True, "format": "json"},
    }


@contextlib.contextmanager
def _auth_pair(
    folder: Path, max_failed_logins: int, **limits: int
) -> Iterator[tuple[Server, Server]]:
    config = _auth_config(max_failed_logins, **limits)

    def stack(http: str) -> dict[str, Any]:
        return {**config, "servers": [{**config["servers"][0], "http": http}, config["servers"][1]]}

    files = {"passwords": PASSWORDS}
    with (
        running(folder / "fast", stack("fast"), files) as fast,
        running(folder / "aiohttp", stack("aiohttp"), files) as slow,
    ):
        for server in (fast, slow):
            for queue in (QUEUE, READABLE):
                created = exchange(server, _form("/queues", f"name={queue}", _auth("alice")))
                assert status(created) == [200], created
        yield fast, slow


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    with _auth_pair(tmp_path_factory.mktemp("guarded"), 1_000_000) as servers:
        yield servers


def _auth(user: str, password: str = "pw") -> str:
    return f"Authorization: {basic(user, password)}\r\n"


def _access_lines(server: Server) -> list[dict[str, Any]]:
    """The access log's lines so far, without their times."""
    lines = []
    for line in server.stderr_path.read_text().splitlines():
        if '"disqueue.access"' in line:
            fields = json.loads(line)
            lines.append({name: fields[name] for name in ("method", "path", "status", "bytes")})
    return lines


def _request_counts(server: Server) -> list[str]:
    """The request counters of /metrics (read from the open listener)."""
    with socket.create_connection(("127.0.0.1", server.ports[1]), timeout=5) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        text = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
    return sorted(line for line in text.splitlines() if line.startswith(_COUNTER))


_COUNTER = "disqueue_http_request_duration_seconds_count{"

GUARDED = [
    _form("/put", f"name={QUEUE}&value=v"),  # 401, with the challenge
    _form("/put", f"name={QUEUE}&value=v", _auth("alice", "wrong")),  # 403
    _form("/put", f"name={READABLE}&value=v", _auth("bob")),  # 403 permission denied
    _form("/take", f"name={READABLE}", _auth("bob")),
    _form("/take", f"name={QUEUE}", _auth("bob")),
    _form("/take", "name=not-a-queue", _auth("bob")),
    b"GET /queues HTTP/1.1\r\nHost: x\r\n" + _auth("bob").encode() + b"\r\n",
    _form("/put", f"name={QUEUE}&value=v", _auth("alice")),
    _form("/take", f"name={QUEUE}", _auth("alice")),
]


def test_refusals_and_access_lines_are_the_same(guarded: tuple[Server, Server]) -> None:
    """401, 403 and permission answers byte for byte (the fast stack put WWW-Authenticate
    after Server, aiohttp before Content-Type), and the same access lines: the fast
    stack logged the body's bytes where aiohttp logs the whole answer's."""
    before = [len(_access_lines(server)) for server in guarded]
    answers = [status(same(guarded, request)) for request in GUARDED]
    assert answers == [[401], [403], [403], [404], [403], [403], [200], [200], [200]]
    fast, slow = (_access_lines(s)[n:] for s, n in zip(guarded, before, strict=True))
    # A put's id is as long as the server makes it: its answer's size is its own.
    fast[-2]["bytes"] = slow[-2]["bytes"] = 0
    assert len(fast) == len(GUARDED) and fast == slow


def test_a_408_is_counted_and_logged(guarded: tuple[Server, Server]) -> None:
    """The fast stack answered a late body 408 without counting it in /metrics or
    logging it."""
    head = f"POST /take HTTP/1.1\r\nHost: x\r\n{_auth('alice')}Content-Length: 100\r\n\r\n"
    for server in guarded:
        assert status(exchange(server, head.encode(), quiet=2.5)) == [408]
    fast, slow = (_request_counts(server) for server in guarded)
    assert fast == slow and any('status="408"' in line for line in fast)
    assert [line["status"] for line in _access_lines(guarded[0])].count(408) == 1


def test_too_many_failed_logins_is_429_on_both(tmp_path: Path) -> None:
    """The 429's Retry-After where aiohttp puts it, and the same counts in /metrics."""
    with _auth_pair(tmp_path, 2) as servers:
        wrong = _form("/take", f"name={QUEUE}", _auth("alice", "wrong"))
        assert status(same(servers, wrong, wrong)) == [403, 403]
        answer = same(servers, _form("/take", f"name={QUEUE}", _auth("alice")))
        assert status(answer) == [429] and b"\r\nRetry-After: " in answer
        fast, slow = (_request_counts(server) for server in servers)
        assert fast == slow and any('status="429"' in line for line in fast)


def test_credentials_are_checked_before_a_large_body_is_read(tmp_path: Path) -> None:
    """aiohttp answers a request without credentials 401 at its head; the fast stack
    waited for (and held) the whole body, up to max_body_bytes, first."""
    with _auth_pair(tmp_path, 1_000_000, max_body_bytes=1 << 20) as servers:
        head = b"POST /put HTTP/1.1\r\nHost: x\r\nContent-Length: 500000\r\n\r\n"
        assert status(same(servers, head)) == [401]
        body = f"name={QUEUE}&value=".encode().ljust(500_000, b"v")
        then = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        assert status(same(servers, head, body + then, pause=0.2)) == [401, 200]


# -- connection accounting ---------------------------------------------------------------------


def test_the_connection_count_does_not_drift(tmp_path: Path) -> None:
    """After connections served, handed to aiohttp, refused, cut off idle or late, and
    reset by their clients, exactly `max_connections` can be open again on both."""
    limits = {**LIMITS, "max_connections": 3, "idle_timeout": 1}
    with pair_with(tmp_path, {"limits": limits}) as servers:
        for server in servers:
            for _ in range(2):
                _open_and_close_every_way(server)
            held = [socket.create_connection(("127.0.0.1", _port(server))) for _ in range(3)]
            for sock in held:
                sock.sendall(b"GET /queues HTTP/1.1\r\nHost: x\r\n\r\n")
                assert status(sock.recv(65536)) == [200]
            assert status(exchange(server, b"GET /queues HTTP/1.1\r\nHost: x\r\n\r\n")) == [503]
            for sock in held:
                sock.close()


def _open_and_close_every_way(server: Server) -> None:
    info = _form("/queue", f"name={QUEUE}")
    health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    for sent in [
        info,  # served, closed by the client
        _form("/queue", f"name={QUEUE}", "Connection: close\r\n"),  # closed by the server
        health,  # handed to aiohttp
        info + health + info,  # handed mid-stream
        b"GARBAGE\r\n\r\n",  # handed, refused, closed by aiohttp
    ]:
        exchange(server, sent)
    exchange(server, b"POST /take HTTP/1.1\r\nHo", quiet=1.5)  # cut off idle
    exchange(server, b"POST /take HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nna", quiet=1.5)
    for sent in [b"", info, health]:  # reset by the client (at once, after an answer)
        sock = socket.create_connection(("127.0.0.1", _port(server)))
        if sent:
            sock.sendall(sent)
            sock.recv(65536)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    held = [socket.create_connection(("127.0.0.1", _port(server))) for _ in range(3)]
    exchange(server, health)  # refused: over the cap
    for sock in held:
        sock.close()
    time.sleep(0.5)  # the server sees those closes before what comes next


def test_a_client_slow_to_read_its_answers_is_not_idle(tmp_path: Path) -> None:
    """Requests waiting for a client to read the answers before them are not an idle
    connection: the fast stack cut such a client off after `idle_timeout`, its
    requests unanswered; aiohttp waits on its write, and so does the fast stack now."""
    with pair_with(tmp_path, {"limits": {**LIMITS, "idle_timeout": 1}}) as servers:
        request = b"GET /queues HTTP/1.1\r\nHost: x\r\n\r\n"
        for server in servers:
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.connect(("127.0.0.1", _port(server)))
                sock.setblocking(False)
                sent = 0
                while select.select([], [sock], [], 1.0)[1]:
                    with contextlib.suppress(BlockingIOError):
                        sent += sock.send(request * 1000)
                time.sleep(2.5)  # not reading, for longer than idle_timeout
                sock.settimeout(30)
                answers = b"".join(iter(lambda: sock.recv(1 << 20), b""))
            assert len(status(answers)) == sent // len(request), server.config["servers"]
