"""PostgreSQL high availability as the README describes it: a primary and a streaming
standby (synchronous replication), nodes on a multi-host dsn with
`target_session_attrs=read-write`. The primary crashes mid-load and the standby is
promoted: the nodes follow it without a config change, answer 503 meanwhile, lose
nothing acknowledged, and cross-node wake-ups work again on the new primary."""

from __future__ import annotations

import time
from collections.abc import Iterator

import aiohttp
import pytest

from ..e2e.helpers import wait_until
from .conftest import StartNode
from .load import survive_outage
from .pgserver import PrivatePostgres, run_sql


@pytest.fixture
def replicated() -> Iterator[tuple[PrivatePostgres, PrivatePostgres]]:
    """A primary whose commits wait for its standby (synchronous), and the standby."""
    primary = PrivatePostgres(synchronous_standby_names="walreceiver")
    standby = PrivatePostgres()
    try:
        primary.init()
        primary.start()
        standby.init_standby(primary)
        standby.start()
        wait_until(
            lambda: run_sql(
                primary.dsn,
                "SELECT 1 FROM pg_stat_replication WHERE state = 'streaming' "
                "AND sync_state = 'sync'",
            )[0],
            timeout=20,
            interval=0.2,
            what="the standby streaming synchronously",
        )
        yield primary, standby
    finally:
        standby.destroy()
        primary.destroy()


@pytest.mark.timeout(150)
async def test_nodes_follow_a_failover_to_the_promoted_standby(
    replicated: tuple[PrivatePostgres, PrivatePostgres],
    start_node: StartNode,
    http: aiohttp.ClientSession,
) -> None:
    """Load through two nodes; kill the primary, promote the standby: every answer is 200
    or 503, the nodes serve again on the new primary, nothing acknowledged is lost, and
    a want on B is woken by a put on A afterwards."""
    primary, standby = replicated
    dsn = (
        f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}"
        "/postgres?target_session_attrs=read-write"
    )
    await survive_outage(start_node, dsn, http, lambda: fail_over(primary, standby))


def fail_over(primary: PrivatePostgres, standby: PrivatePostgres) -> None:
    """Crash the primary, then promote the standby, a moment apart."""
    time.sleep(1.5)
    primary.stop("immediate")
    time.sleep(1.0)
    standby.promote()
    time.sleep(1.5)
