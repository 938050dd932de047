"""Connection limits and timeouts: header size, malformed requests, slow headers, idle
connections, slow bodies, the cap on connections, WebSocket message size and wants."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from .conftest import StartServer
from .helpers import Api, Server, check_envelope, recv_delivery, recv_json, wait_until, ws_url

LIMITS = {
    "max_header_bytes": 1024,
    "max_body_bytes": 1000,
    "idle_timeout": 2,
    "body_timeout": 1,
    "max_wants_per_connection": 2,
}
#: However loaded the machine, a cut-off due after 2 s comes well within this.
BOUND = 20.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from .helpers import running

    with running(tmp_path_factory.mktemp("limits"), {"limits": LIMITS}) as s:
        yield s


def connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=BOUND)


def answer(sock: socket.socket) -> tuple[int, dict[str, Any], http.client.HTTPResponse]:
    """Read one HTTP response from `sock` (with http.client) and check its envelope."""
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    body = check_envelope(resp.status, resp.headers, resp.read())
    return resp.status, body, resp


def exchange(server: Server, raw: bytes) -> tuple[int, dict[str, Any]]:
    with connect(server) as sock:
        sock.sendall(raw)
        status, body, _ = answer(sock)
    return status, body


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed `sock` (end of stream or reset), waiting up to BOUND."""
    try:
        return sock.recv(1) == b""
    except ConnectionError:
        return True


def still_serving(server: Server) -> None:
    with Api(server.url) as api:
        assert isinstance(api.queues(), list)


# ------------------------------------------------------------ headers


def test_header_line_over_limit_is_431(server: Server) -> None:
    """A header line over max_header_bytes → 431 `request header too large`, in the envelope."""
    raw = b"GET /queues HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n"
    assert exchange(server, raw) == (
        431,
        {"success": False, "message": "request header too large", "payload": None},
    )
    still_serving(server)


def test_request_line_over_limit_is_431(server: Server) -> None:
    """A request line (URL) over max_header_bytes → 431 as well."""
    raw = b"GET /queues?" + b"a" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert exchange(server, raw)[0] == 431


def test_header_under_limit_is_served(server: Server) -> None:
    """A header line under the limit is served as usual."""
    raw = b"GET /queues HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 900 + b"\r\n\r\n"
    status, body = exchange(server, raw)
    assert status == 200 and isinstance(body["payload"], list)


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # a TLS hello on plain HTTP
        b"GET /queues HTTP/9.9\r\n\r\n",
        b"GET /queues HTTP/1.1\r\nBad Header\r\n\r\n",
        b"POST /put HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /put HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_request_is_400_in_envelope(server: Server, raw: bytes) -> None:
    """What aiohttp's parser refuses is still answered in the envelope: 400 `malformed request`."""
    assert exchange(server, raw) == (
        400,
        {"success": False, "message": "malformed request", "payload": None},
    )
    still_serving(server)


# ------------------------------------------------------------ timeouts


def test_slow_header_is_cut_off(server: Server) -> None:
    """A client that sends its header one byte at a time is disconnected (idle_timeout 2 s)
    before it ever completes it."""
    header = b"GET /queues HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    started = time.monotonic()
    with connect(server) as sock:
        sock.settimeout(0.5)
        for byte in header:
            try:
                sock.send(bytes([byte]))
                if sock.recv(1) == b"":
                    break
            except TimeoutError:
                continue  # nothing from the server yet: the next byte
            except ConnectionError:
                break
            assert time.monotonic() - started < BOUND, "still connected"
        else:
            raise AssertionError("the whole slow header was accepted")
    assert time.monotonic() - started < BOUND
    still_serving(server)


def test_idle_connection_is_closed(server: Server) -> None:
    """A connection that sends nothing, or nothing more after an answer, is closed."""
    with connect(server) as silent:
        assert closed_by_server(silent)
    with connect(server) as used:
        used.sendall(b"GET /queues HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer(used)[0] == 200
        assert closed_by_server(used)


def test_slow_body_is_408(server: Server) -> None:
    """A body that does not arrive within body_timeout → 408 `request timeout`."""
    with Api(server.url) as api:
        name = api.new_queue()
    head = (
        f"POST /put HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\n\r\nname={name}&value=v"
    )
    with connect(server) as sock:
        sock.sendall(head.encode())
        status, body, _ = answer(sock)
    assert (status, body["message"]) == (408, "request timeout")
    with Api(server.url) as api:
        assert api.info(name)["size"] == 0


# ------------------------------------------------------------ connections


def test_connections_over_the_cap_get_503(start_server: StartServer) -> None:
    """Past max_connections open connections, a new one is answered 503 `too many
    connections` and closed; once one closes, new connections are served again."""
    server = start_server({"limits": {"max_connections": 3}})
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    held = [http.client.HTTPConnection(host, int(port), timeout=BOUND) for _ in range(3)]
    for conn in held:
        conn.request("GET", "/queues")
        resp = conn.getresponse()
        check_envelope(resp.status, resp.headers, resp.read())
    status, body = exchange(server, b"GET /queues HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, body["message"]) == (503, "too many connections")
    held.pop().close()

    def served() -> bool:
        status, _ = exchange(server, b"GET /queues HTTP/1.1\r\nHost: x\r\n\r\n")
        return status == 200

    wait_until(served, timeout=BOUND, interval=0.1, what="a connection served again")
    for conn in held:
        conn.close()


# ------------------------------------------------------------ WebSocket


async def test_websocket_message_over_limit_closes_1009(server: Server) -> None:
    """A WebSocket message over max_body_bytes closes the connection with 1009."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(ws_url(server.url)) as ws,
    ):
        await ws.send_str('{"identifier": "a", "queue": "' + "x" * 2000 + '"}')
        message = await ws.receive(timeout=BOUND)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 1009
    still_serving(server)


async def test_wants_per_connection_are_capped(server: Server) -> None:
    """Past max_wants_per_connection unanswered wants, a want is refused `too many wants`;
    once one is answered, a new one is accepted."""
    with Api(server.url) as api:
        name = api.new_queue()
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(ws_url(server.url)) as ws,
        ):
            for identifier in ("w1", "w2", "w3"):
                await ws.send_json({"identifier": identifier, "queue": name})
            assert await recv_json(ws) == {
                "success": False,
                "message": "too many wants",
                "payload": {"id": "w3"},
            }
            api.put(name, "one")
            assert (await recv_delivery(ws))[0] == "w1"
            await ws.send_json({"identifier": "w4", "queue": name})
            api.wait_for_consumers(name, 2)
            api.put(name, "two")
            api.put(name, "three")
            got = {(await recv_delivery(ws))[0] for _ in range(2)}
            assert got == {"w2", "w4"}
