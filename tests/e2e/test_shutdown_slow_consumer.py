"""Shutdown with a WebSocket consumer that stopped reading."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

from .conftest import StartServer
from .helpers import Api, raw_ws_client, ws_text_frame

ITEMS = 40
VALUE = "x" * 200_000


def test_sigterm_with_a_consumer_that_does_not_read(
    start_server: StartServer, tmp_path: Path
) -> None:
    """SIGTERM ends the server within seconds even when a consumer's socket is full; the
    items it was not sent are back in the queue after a restart, none twice."""
    config = {"storage": {"type": "sqlite"}}
    server = start_server(config, directory=tmp_path / "node")
    with Api(server.url) as api:
        queue = api.new_queue()
        for i in range(ITEMS):
            api.put(queue, f"{i:04d}{VALUE}")
    client = raw_ws_client(server.ports[0])
    for i in range(ITEMS):
        client.sendall(ws_text_frame(json.dumps({"identifier": f"w{i}", "queue": queue})))
    time.sleep(1.0)  # the server fills the socket and its outbox

    started = time.monotonic()
    assert server.stop(signal.SIGTERM, timeout=30) == 0
    assert time.monotonic() - started < 20, "shutdown waited on a consumer that does not read"

    client.settimeout(0.5)
    received, deadline = b"", time.monotonic() + 3
    try:
        while time.monotonic() < deadline and (chunk := client.recv(1 << 20)):
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    client.close()
    got = {int(m) for m in re.findall(rb'"value":"(\d{4})', received)}

    server = start_server(config, directory=tmp_path / "node")
    with Api(server.url) as api:
        left = {int(value[:4]) for value in api.drain(queue)}
    assert left, "nothing was given back to the queue"
    assert not got & left, f"delivered and still queued: {sorted(got & left)}"
    assert max(left) == ITEMS - 1
