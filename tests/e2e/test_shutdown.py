"""Shutdown: SIGTERM and SIGINT end the process cleanly and close WebSockets with 1001."""

from __future__ import annotations

import asyncio
import base64
import http.client
import os
import signal
import socket
import time

import aiohttp
import pytest

from .conftest import StartServer
from .helpers import Api, basic, send_want, ws_url


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_exits_zero(start_server: StartServer, sig: signal.Signals) -> None:
    """SIGTERM and SIGINT make the server exit with status 0."""
    server = start_server()
    with Api(server.url) as client:
        client.put(client.new_queue(), "v")
    assert server.stop(sig) == 0, server.output()
    assert "Traceback" not in server.output()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_websocket_gets_going_away(start_server: StartServer, sig: signal.Signals) -> None:
    """An open WebSocket with a pending want receives a close frame 1001 before the exit."""
    server = start_server()
    with Api(server.url) as client:
        name = client.new_queue()
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(ws_url(server.url)) as ws,
        ):
            await send_want(ws, "pending", name)
            client.wait_for_consumers(name, 1)
            server.proc.send_signal(sig)
            msg = await asyncio.wait_for(ws.receive(), 10)
            assert msg.type == aiohttp.WSMsgType.CLOSE, msg
            assert msg.data == 1001, msg
            assert ws.close_code == 1001
    status = await asyncio.to_thread(server.proc.wait, 10)
    assert status == 0, server.output()


async def test_several_websockets_all_closed(start_server: StartServer) -> None:
    """Every open WebSocket, on every listener, gets 1001 on SIGTERM."""
    config = {
        "servers": [{}, {"authentication": "default"}],
        "authentication": {"default": {"type": "plaintext", "file": "passwords"}},
    }
    server = start_server(config, files={"passwords": "u:$plain$p\n"})
    auth = {"Authorization": basic("u", "p")}
    async with aiohttp.ClientSession() as session:
        sockets = [
            await session.ws_connect(ws_url(server.urls[0])),
            await session.ws_connect(ws_url(server.urls[0])),
            await session.ws_connect(ws_url(server.urls[1]), headers=auth),
        ]
        server.proc.send_signal(signal.SIGTERM)
        codes = []
        for ws in sockets:
            msg = await asyncio.wait_for(ws.receive(), 10)
            assert msg.type == aiohttp.WSMsgType.CLOSE, msg
            codes.append(msg.data)
            await ws.close()
    assert codes == [1001, 1001, 1001]
    assert await asyncio.to_thread(server.proc.wait, 10) == 0


def test_unresponsive_websocket_does_not_delay_exit(start_server: StartServer) -> None:
    """A WebSocket client that never answers still gets a 1001 close frame; exit is prompt."""
    server = start_server()
    port = server.ports[0]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET /take/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        frame = head.split(b"\r\n\r\n", 1)[1]
        started = time.monotonic()
        assert server.stop(signal.SIGTERM) == 0, server.output()
        assert time.monotonic() - started < 5
        while len(frame) < 4:
            chunk = sock.recv(4096)
            assert chunk, frame
            frame += chunk
    assert frame[0] == 0x88, frame  # final close frame
    assert int.from_bytes(frame[2:4], "big") == 1001, frame


def test_idle_keep_alive_connection_does_not_delay_exit(start_server: StartServer) -> None:
    """An idle kept-alive HTTP connection does not hold the shutdown up."""
    server = start_server()
    conn = http.client.HTTPConnection("127.0.0.1", server.ports[0], timeout=10)
    try:
        conn.request("GET", "/queues")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
        started = time.monotonic()
        assert server.stop(signal.SIGTERM) == 0, server.output()
        assert time.monotonic() - started < 5
    finally:
        conn.close()


def test_port_released_after_exit(start_server: StartServer) -> None:
    """After SIGTERM the port is free: a new server starts on the same port."""
    first = start_server()
    port = first.ports[0]
    assert first.stop() == 0
    second = start_server({"servers": [{"hostname": "127.0.0.1", "port": port}]})
    with Api(second.url) as client:
        assert client.queues() == []
