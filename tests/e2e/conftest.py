"""Fixtures of the end-to-end suite: real `disqueue` processes on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from tests import pg

from .helpers import Api, Server, launch, running

StartServer = Callable[..., Server]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Factory: start a server from a config dict (missing parts filled in); stopped after."""
    servers: list[Server] = []

    def start(
        config: Mapping[str, Any] | None = None,
        *,
        files: Mapping[str, str | bytes] | None = None,
        directory: Path | None = None,
        cwd: Path | None = None,
        client_cert: Path | None = None,
    ) -> Server:
        where = directory or tmp_path / f"server{len(servers)}"
        server = launch(where, config, files, cwd, client_cert)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="session", params=["memory", "sqlite", "postgres"])
def open_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Server]:
    """One open listener (no auth, no TLS, default limits) shared by the protocol tests,
    on each storage backend: the protocol must not depend on where items live."""
    folder = tmp_path_factory.mktemp(f"open-server-{request.param}")
    if request.param == "postgres":
        with (
            pg.fresh_schema() as schema,
            running(folder, {"storage": pg.storage(schema)}) as server,
        ):
            yield server
        return
    with running(folder, {"storage": {"type": request.param}}) as server:
        yield server


@pytest.fixture
def api(open_server: Server) -> Iterator[Api]:
    """An HTTP client of the shared open server."""
    with Api(open_server.url) as client:
        yield client


@pytest.fixture
def queue(api: Api) -> str:
    """A fresh queue on the shared open server."""
    return api.new_queue()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp client session, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A throw-away certificate authority for the TLS tests."""
    return trustme.CA()


@pytest.fixture
def tls_files(ca: trustme.CA) -> dict[str, bytes]:
    """`cert.pem`, `key.pem` for 127.0.0.1/localhost signed by `ca`, and `ca.pem`."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    return {
        "cert.pem": b"".join(blob.bytes() for blob in cert.cert_chain_pems),
        "key.pem": cert.private_key_pem.bytes(),
        "ca.pem": ca.cert_pem.bytes(),
    }
