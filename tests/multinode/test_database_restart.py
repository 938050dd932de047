"""The database goes away in the middle of a load and comes back.

On a private PostgreSQL of the test's own (never the machine's shared one): it is
stopped mid-load, twice, and started again; as a crash (`pg_ctl stop -m immediate`) in
one test, cleanly (`-m fast`, which ends every session) in the other. Meanwhile every request is
answered correctly or with 503 `storage unavailable`; afterwards the service works
again and nothing acknowledged is lost.

Takes here hold a lease and ack each item (at-least-once): a take or ack cut short by
the outage cannot then lose an item, so the check can be exact. Every put answered 200
is delivered; an item is delivered again only after an ack of it failed.
"""

from __future__ import annotations

import time

import aiohttp
import pytest

from ..e2e.helpers import Api, wait_until
from .conftest import StartNode
from .load import survive_outage
from .pgserver import PrivatePostgres

OUTAGE = 2.0  # seconds the database stays down each time


@pytest.mark.timeout(150)
@pytest.mark.parametrize("mode", ["immediate", "fast"])
async def test_database_restart_mid_load(
    private_postgres: PrivatePostgres,
    start_node: StartNode,
    http: aiohttp.ClientSession,
    mode: str,
) -> None:
    """Puts and leased takes through two nodes while the database is stopped twice (as a
    crash: `immediate`; cleanly: `fast`) and started again: only 200 or 503 answers;
    every acknowledged put delivered; no item delivered again after a successful ack;
    both nodes serve again after, and wake each other."""
    urls = await survive_outage(
        start_node, private_postgres.dsn, http, lambda: restart_twice(private_postgres, mode)
    )
    listed = []
    for url in urls:
        with Api(url) as client:
            assert client.call("GET", "/health").status == 200
            listed.append(client.queues())
    assert listed[0] == listed[1] and len(listed[0]) == 1, listed


def restart_twice(database: PrivatePostgres, mode: str) -> None:
    """Stop the database and start it again, twice, a moment apart."""
    for _ in range(2):
        time.sleep(1.5)
        database.stop(mode)
        time.sleep(OUTAGE)
        database.start()
    time.sleep(1.5)


def health(url: str) -> tuple[int, str | None]:
    """`GET /health`: its status and message."""
    with Api(url) as client:
        reply = client.call("GET", "/health")
        return reply.status, reply.message


def test_health_says_when_the_database_is_away(
    private_postgres: PrivatePostgres, start_node: StartNode
) -> None:
    """`/health` is a readiness answer: 503 `storage unavailable` while the database is
    stopped, 200 again once it is back, without a restart of the node."""
    node = start_node("disqueue", private_postgres.dsn)
    assert health(node.url) == (200, None)
    private_postgres.stop("fast")
    wait_until(lambda: health(node.url) == (503, "storage unavailable"), timeout=15,
               what="/health answering 503 storage unavailable")  # fmt: skip
    private_postgres.start()
    wait_until(lambda: health(node.url) == (200, None), timeout=30, interval=0.2,
               what="/health answering 200 again")  # fmt: skip
