"""Two PostgreSQL storages on one schema, in one process: two nodes, seen from inside."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from disqueue.errors import QueueNotFound, TooMany
from disqueue.models import Item
from disqueue.storage.postgres.storage import PostgresStorage
from tests import pg

Nodes = tuple[PostgresStorage, PostgresStorage]


@pytest.fixture
async def nodes() -> AsyncIterator[Nodes]:
    with pg.fresh_schema() as schema:
        a, b = PostgresStorage(pg.DSN, schema), PostgresStorage(pg.DSN, schema)
        await asyncio.gather(a.open(), b.open())  # migrating at once is safe
        yield a, b
        await asyncio.gather(a.close(), b.close())


async def test_max_queues_holds_across_nodes(
    nodes: tuple[PostgresStorage, PostgresStorage],
) -> None:
    """Creates racing on two nodes never pass max_queues: they count under one lock."""
    a, b = nodes
    names = [f"q{i}" for i in range(12)]
    results = await asyncio.gather(
        *(node.create_queue(name, max_queues=5) for name in names for node in (a, b)),
        return_exceptions=True,
    )
    assert await a.queue_count() == 5
    assert sum(result is True for result in results) == 5
    assert all(
        result is False or isinstance(result, TooMany) for result in results if result is not True
    )
    assert await b.create_queue(sorted(await a.queues())[0], max_queues=5) is False  # exists


async def test_a_queue_deleted_and_made_anew_on_the_other_node(nodes: Nodes) -> None:
    """A node's cached id of a queue deleted (and created again) elsewhere never leads to
    a wrong answer: puts go to the new queue, takes do not see the old items."""
    a, b = nodes
    await a.create_queue("q")
    await a.put("q", Item("old"))
    await b.delete_queue("q")
    with pytest.raises(QueueNotFound):
        await a.put("q", Item("lost"))
    await b.create_queue("q")
    await a.put("q", Item("new"))
    assert await a.take("q", None) is not None
    assert await b.take("q", None) is None
    assert (await a.info("q")).size == 0


async def test_each_node_lists_the_live_nodes_and_itself_as_this(nodes: Nodes) -> None:
    """Two nodes on one schema each list both, each marking itself; a node closed
    cleanly is gone from the list at once, and a row not refreshed for 30 s (a node
    that died) no longer counts and is deleted by the next node's refresh."""
    a, b = nodes
    for storage in (a, b):
        listed = await storage.nodes()
        assert {node.id for node in listed} == {a.node.id, b.node.id}
        assert [node.id for node in listed if node.this] == [storage.node.id]
        assert all(node.pid == os.getpid() and node.host for node in listed)
    await b.close()
    assert [(node.id, node.this) for node in await a.nodes()] == [(a.node.id, True)]
    await a.run(
        "execute", "INSERT INTO nodes VALUES ('dead', 'h', 1, now(), now() - interval '31 s')"
    )
    assert [node.id for node in await a.nodes()] == [a.node.id]
    await a.node._seen()  # what the sweep loop does every few seconds
    assert await a.run("fetchval", "SELECT count(*) FROM nodes WHERE id = 'dead'") == 0
