"""More of the fast HTTP stack (server/fast.py, decision 0015) against aiohttp's, from a
review of it: each test here failed on the fast stack before its fix. The same raw
bytes go to a listener on each stack (tests/e2e/test_fast_http.py's `same`)."""

from __future__ import annotations

import pytest

from .helpers import Server
from .test_fast_http import QUEUE, pair, same, status

__all__ = ["pair"]  # the fixture: two servers alike but for their HTTP stack


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
