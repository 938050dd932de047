"""Many connections: the open-file limit the server raises at start."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from .helpers import Api, launch, recv_delivery, ws_url

CONNECTIONS = 400


@contextlib.contextmanager
def _soft_open_files(limit: int) -> Iterator[None]:
    """Lower this process's soft limit (which a child inherits) for the block."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def _hold_consumers(url: str, queue: str, api: Api) -> list[str]:
    """Open CONNECTIONS WebSocket consumers with a want each, put CONNECTIONS items;
    what each consumer received."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets = [await session.ws_connect(ws_url(url)) for _ in range(CONNECTIONS)]
        for n, ws in enumerate(sockets):
            await ws.send_str(json.dumps({"identifier": f"c{n}", "queue": queue}))
        await asyncio.to_thread(api.wait_for_consumers, queue, CONNECTIONS, 30)
        for n in range(CONNECTIONS):
            await asyncio.to_thread(api.put, queue, f"v{n}")
        received = [(await recv_delivery(ws))[1]["value"] for ws in sockets]
        for ws in sockets:
            await ws.close()
        return received


def test_server_raises_its_open_file_limit(tmp_path: Path) -> None:
    """Started with a soft limit of 256 open files, the server raises it to the hard
    limit, logs it, and serves 400 WebSocket consumers at once, each put reaching one."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard > CONNECTIONS + 100, f"this machine's hard limit {hard} is too low"
    with _soft_open_files(256):
        server = launch(tmp_path / "node")
    try:
        assert f"open files: limit raised from 256 to {hard}" in server.output()
        with Api(server.url) as api:
            queue = api.new_queue()
            received = asyncio.run(_hold_consumers(server.url, queue, api))
        assert sorted(received) == sorted(f"v{n}" for n in range(CONNECTIONS))
    finally:
        server.shutdown()
