"""Fixtures of the multi-node suite: several real `disqueue` processes sharing one
PostgreSQL database and schema, that is one queue service."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ..e2e.helpers import Api, Server, launch
from ..pg import DSN, fresh_schema
from .pgserver import PrivatePostgres, node_storage

StartNode = Callable[..., Server]


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh schema of the shared test database (one queue service), dropped after."""
    with fresh_schema() as name:
        yield name


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[StartNode]:
    """Factory: start a node on a schema (of `dsn`, default the test database); every
    node still running is stopped after the test (a node may also be killed by it)."""
    nodes: list[Server] = []
    numbers = itertools.count()  # thread-safe: tests may start nodes at the same moment

    def start(schema: str, dsn: str = DSN, **config: Any) -> Server:
        directory = tmp_path / f"node{next(numbers)}"
        server = launch(directory, {"storage": node_storage(dsn, schema), **config})
        nodes.append(server)
        return server

    yield start
    for node in nodes:
        node.shutdown()


@pytest.fixture
def nodes(schema: str, start_node: StartNode) -> tuple[Server, Server]:
    """Two nodes, A and B, on one fresh schema."""
    return start_node(schema), start_node(schema)


@pytest.fixture
def apis(nodes: tuple[Server, Server]) -> Iterator[tuple[Api, Api]]:
    """HTTP clients of node A and node B."""
    with Api(nodes[0].url) as a, Api(nodes[1].url) as b:
        yield a, b


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp client session, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of the test's own, running, that the test may stop and start."""
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()
