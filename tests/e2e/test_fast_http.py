"""The fast HTTP stack (server/fast.py, decision 0015) against aiohttp's: the same raw
bytes, sent to a listener on each, get the same answers, byte for byte but the Date
header and the ids the servers made up, and leave the connection open or closed alike.

The cases are the ones a second HTTP stack risks getting wrong: request smuggling
(Content-Length against Transfer-Encoding, two lengths, bad lengths), heads llhttp reads
differently from a line-by-line reader, pipelining across the two stacks, `Expect:
100-continue`, HTTP/1.0, cut-off and slow requests, and every kind of malformed body.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import PYTHON, Server, running

QUEUE = str(uuid.uuid4())
LIMITS = {"max_body_bytes": 4096, "max_header_bytes": 1024, "body_timeout": 1}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """Two servers alike but for the HTTP stack of their listener, each with QUEUE."""
    folder = tmp_path_factory.mktemp("fast-http")
    with (
        running(folder / "fast", _config("fast")) as fast,
        running(folder / "aiohttp", _config("aiohttp")) as slow,
    ):
        for server in (fast, slow):
            answer = exchange(server, _form("/queues", f"name={QUEUE}"))
            assert b" 200 OK" in answer.split(b"\r\n", 1)[0], answer
        yield fast, slow


def _config(stack: str) -> dict[str, object]:
    return {"servers": [{"http": stack}], "limits": LIMITS}


def _port(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _form(path: str, body: str, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\n{extra}"
        f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
    ).encode()


def exchange(server: Server, *parts: bytes, pause: float = 0.0, quiet: float = 0.4) -> bytes:
    """Send `parts` (with `pause` seconds between them) on a new connection; everything
    the server sent back until it closed or was `quiet` seconds quiet, then `<open>` or
    `<closed>`."""
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as sock:
        for index, part in enumerate(parts):
            if index and pause:
                time.sleep(pause)
            try:
                sock.sendall(part)
            except OSError:  # closed by the server already: what it said is the answer
                break
        received = b""
        sock.settimeout(quiet)
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return received + b"<open>"
            except ConnectionResetError:
                return received + b"<reset>"
            if not chunk:
                return received + b"<closed>"
            received += chunk


_DATE = re.compile(rb"\r\nDate: [^\r]*")
_ID = re.compile(rb'"id":"[0-9a-f]+"')
_LENGTH = re.compile(rb"\r\nContent-Length: \d+")


def same(pair: tuple[Server, Server], *parts: bytes, pause: float = 0.0) -> bytes:
    """Send the same bytes to both stacks; assert the answers match; the answer."""
    fast, slow = (exchange(server, *parts, pause=pause) for server in pair)

    def masked(answer: bytes) -> bytes:
        answer = _ID.sub(b'"id":"X"', _DATE.sub(b"\r\nDate: D", answer))
        # ids vary in length by server: the length of a body holding one cannot compare
        return _LENGTH.sub(b"\r\nContent-Length: N", answer) if b'"id":"X"' in answer else answer

    assert masked(fast) == masked(slow)
    return fast


def status(answer: bytes) -> list[int]:
    """The status of every answer in a stream of them."""
    return [int(code) for code in re.findall(rb"HTTP/1\.[01] (\d{3}) ", answer)]


# -- the served path -------------------------------------------------------------------------


def test_a_put_and_a_take(pair: tuple[Server, Server]) -> None:
    answer = same(pair, _form("/put", f"name={QUEUE}&value=hello"))
    assert status(answer) == [200] and answer.endswith(b"<open>")
    answer = same(pair, _form("/take", f"name={QUEUE}"))
    assert b'"value":"hello"' in answer


def test_json_bodies_and_query_strings(pair: tuple[Server, Server]) -> None:
    body = f'{{"name": "{QUEUE}", "value": "j", "key": "k"}}'
    request = (
        f"POST /put HTTP/1.1\r\nHost: x\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    assert status(same(pair, request)) == [200]
    assert b'"key":"k"' in same(pair, _form(f"/take?name={QUEUE}&key=k", ""))


@pytest.mark.parametrize(
    "body",
    [
        "name=%zz",  # bad percent-encoding
        "name=\xff",  # not UTF-8 (sent as Latin-1 below)
        "value=no-name",
        f"name={QUEUE}&key=a%00b",  # NUL
        f"name={QUEUE}&count=x",
        f"name={QUEUE}&lease=-1",
    ],
)
def test_bad_forms_get_the_same_errors(pair: tuple[Server, Server], body: str) -> None:
    raw = body.encode("latin-1")
    request = b"POST /take HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(raw), raw)
    assert status(same(pair, request)) == [400]


@pytest.mark.parametrize("body", ["[1, 2]", "{", '"text"', '{"name": 5}'])
def test_bad_json_gets_the_same_errors(pair: tuple[Server, Server], body: str) -> None:
    request = (
        f"POST /put HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    assert status(same(pair, request)) == [400]


def test_a_bad_query_string(pair: tuple[Server, Server]) -> None:
    assert status(same(pair, _form("/take?name=%zz", ""))) == [400]


# -- smuggling: where a request ends --------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        "Content-Length: 5\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\nContent-Length: 5",
        "Content-Length: 5\r\nContent-Length: 6",
        "Content-Length: 5\r\nContent-Length: 5",
        "Content-Length: +5",
        "Content-Length: -5",
        "Content-Length: 5x",
        "Content-Length: 0x5",
        "Content-Length : 5",
        "Content-Length:\t5",
        "Transfer-Encoding: chunked, identity",
        "Transfer-Encoding: identity",
        "Transfer-Encoding: xchunked",
        "X-Folded: a\r\n b\r\nContent-Length: 5",
        "Host: y",  # a second Host
        "Content-Length: 5",
        "Content-Length: 5 ",
        "Content-Length: 05",
    ],
)
def test_ambiguous_lengths_are_answered_as_aiohttp_does(
    pair: tuple[Server, Server], head: str
) -> None:
    """Each of these, with a 5-byte body and a second request after it in the same
    write, is read by both stacks alike: the same requests, ending at the same bytes
    (most are refused, and the connection closed)."""
    request = f"POST /take HTTP/1.1\r\nHost: x\r\n{head}\r\n\r\nname=".encode()
    same(pair, request + _form("/take", f"name={QUEUE}"))


def test_a_chunked_body_is_served(pair: tuple[Server, Server]) -> None:
    body = f"name={QUEUE}&value=chunked".encode()
    request = (
        b"POST /put HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    )
    assert status(same(pair, request)) == [200]
    assert b'"value":"chunked"' in same(pair, _form("/take", f"name={QUEUE}"))


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /take HTTP/1.1\nHost: x\nContent-Length: 0\n\n",  # bare line feeds
        b"POST /take HTTP/1.1\r\nHost: x\nContent-Length: 0\r\n\r\n",  # one bare line feed
        b"POST /take HTTP/1.1\r\nHost: x\rContent-Length: 0\r\n\r\n",  # a bare CR
        b"POST /take HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",  # NUL in a header
        b"POST /take HTTP/1.1\r\nHost: x\r\nX: \xff\r\n\r\n",  # not ASCII
        b"POST /take HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
        b"POST /take HTTP/2.0\r\nHost: x\r\n\r\n",
        b"POST /take HTTP/1.2\r\nHost: x\r\n\r\n",
        b"post /take HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST http://x/take HTTP/1.1\r\nHost: x\r\n\r\n",  # absolute form
        b"POST /take#frag HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /t%61ke HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /take/ HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST //take HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /take\xe9 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST  /take HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /take HTTP/1.1 \r\nHost: x\r\n\r\n",
        b"PUT /take HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HEAD /queues HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\r\nPOST /take HTTP/1.1\r\nHost: x\r\n\r\n",  # a leading empty line
        b"GARBAGE\r\n\r\n",
        b"POST /take HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key1: 1\r\n\r\n",
        b"POST /take HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n",
        b"POST /take HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
    ],
)
def test_odd_heads_are_answered_as_aiohttp_does(pair: tuple[Server, Server], raw: bytes) -> None:
    same(pair, raw + _form("/take", f"name={QUEUE}"))


def test_an_over_long_header_is_431_on_both(pair: tuple[Server, Server]) -> None:
    answer = same(pair, _form("/take", f"name={QUEUE}", extra=f"X-Long: {'a' * 2000}\r\n"))
    assert status(answer) == [431]


def test_a_head_longer_than_the_limit_in_short_lines(pair: tuple[Server, Server]) -> None:
    """Many short lines: over the limit as a whole, no line over it (aiohttp's limit is
    per line, and the fast stack hands such a head to it)."""
    extra = "".join(f"X-{n}: {'a' * 50}\r\n" for n in range(30))
    same(pair, _form("/take", f"name={QUEUE}", extra=extra))


def test_an_over_large_body_is_413_on_both(pair: tuple[Server, Server]) -> None:
    body = f"name={QUEUE}&value={'v' * 5000}"
    assert status(same(pair, _form("/put", body))) == [413]


def test_a_multipart_body(pair: tuple[Server, Server]) -> None:
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n{QUEUE}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="value"\r\n\r\nmp\r\n'
        f"--{boundary}--\r\n"
    )
    request = (
        f"POST /put HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={boundary}"
        f"\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    assert status(same(pair, request)) == [200]
    assert b'"value":"mp"' in same(pair, _form("/take", f"name={QUEUE}"))


# -- pipelining, and the hand-off to aiohttp mid-connection ---------------------------------


def test_pipelined_requests_are_answered_in_order(pair: tuple[Server, Server]) -> None:
    """Puts, a take, a route only aiohttp serves, then API calls again, in one write:
    every answer in order, on both."""
    requests = b"".join(
        [
            _form("/put", f"name={QUEUE}&value=one"),
            _form("/put", f"name={QUEUE}&value=two"),
            _form("/take", f"name={QUEUE}"),
            b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",  # aiohttp's from here on
            _form("/take", f"name={QUEUE}"),
            _form("/take", f"name={QUEUE}"),
        ]
    )
    answer = same(pair, requests)
    assert status(answer) == [200, 200, 200, 200, 200, 404]
    assert answer.index(b'"value":"one"') < answer.index(b'"value":"two"')


def test_a_request_sent_byte_by_byte(pair: tuple[Server, Server]) -> None:
    request = _form("/put", f"name={QUEUE}&value=slow") + _form("/take", f"name={QUEUE}")
    answer = same(pair, *(request[i : i + 1] for i in range(len(request))), pause=0.001)
    assert status(answer) == [200, 200] and b'"value":"slow"' in answer


def test_expect_100_continue(pair: tuple[Server, Server]) -> None:
    head = _form("/put", f"name={QUEUE}&value=expected", extra="Expect: 100-continue\r\n")
    split = head.index(b"\r\n\r\n") + 4
    answer = same(pair, head[:split], head[split:], pause=0.2)
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n") and status(answer)[-1] == 200
    assert b'"value":"expected"' in same(pair, _form("/take", f"name={QUEUE}"))


# -- HTTP/1.0, closing, and time limits --------------------------------------------------------


def test_http_1_0_closes_unless_kept_alive(pair: tuple[Server, Server]) -> None:
    body = f"name={QUEUE}"
    plain = f"POST /take HTTP/1.0\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode()
    assert same(pair, plain).endswith(b"<closed>")
    kept = (
        f"POST /take HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: {len(body)}\r\n\r\n"
        f"{body}"
    ).encode()
    assert same(pair, kept + kept).endswith(b"<open>")


def test_connection_close_closes_after_the_answer(pair: tuple[Server, Server]) -> None:
    request = _form("/take", f"name={QUEUE}", extra="Connection: close\r\n")
    answer = same(pair, request)
    assert status(answer) == [404] and answer.endswith(b"<closed>")


def test_what_follows_connection_close_is_dropped(pair: tuple[Server, Server]) -> None:
    """aiohttp refuses the whole stream (llhttp: data after `Connection: close`); the
    fast stack answers the request and drops what follows, unread."""
    fast, slow = pair
    request = _form("/put", f"name={QUEUE}&value=first", extra="Connection: close\r\n")
    then = _form("/put", f"name={QUEUE}&value=second")
    answer = exchange(fast, request + then)
    assert status(answer) == [200] and answer.endswith(b"<closed>")
    assert status(exchange(slow, request + then)) == [400]
    took = exchange(fast, _form("/take", f"name={QUEUE}&count=10"))
    assert b'"value":"first"' in took and b"second" not in took


def test_a_body_that_does_not_come_is_408_on_both(pair: tuple[Server, Server]) -> None:
    head = f"POST /take HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nname={QUEUE}".encode()
    fast, slow = (exchange(server, head, quiet=2.5) for server in pair)
    assert status(fast) == status(slow) == [408]
    # aiohttp keeps the connection, mid-body; the fast stack closes it (decision 0015)
    assert b"\r\nConnection: close\r\n" in fast and fast.endswith(b"<closed>")


def test_a_half_closed_connection_is_closed(pair: tuple[Server, Server]) -> None:
    """A client that shuts its sending side down gets the connection closed (a long poll
    sees it gone), on both."""
    for server in pair:
        with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as sock:
            sock.sendall(_form("/take", f"name={QUEUE}&wait=5"))
            sock.shutdown(socket.SHUT_WR)
            started = time.monotonic()
            while sock.recv(65536):
                pass
            assert time.monotonic() - started < 4.5


def test_an_unknown_stack_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"servers": [{"port": 3999, "http": "h2"}]}')
    done = subprocess.run(
        [PYTHON, "-m", "disqueue", "-c", str(config)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0 and "servers[0].http" in done.stderr
