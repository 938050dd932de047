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
import requests

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


def health(url: str) -> tuple[int, str | None, str, bool]:
    """`GET /health`: status, message, payload status and storage readiness (a 503
    carries a payload too, docs/API.md, so this reads the body itself)."""
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment for 127.0.0.1
        response = session.get(url + "/health", timeout=10)
    body = response.json()
    assert body["success"] is (response.status_code == 200), body
    payload = body["payload"]
    assert payload["storage"]["kind"] == "postgres", body
    return response.status_code, body["message"], payload["status"], payload["storage"]["ready"]


def test_health_says_when_the_database_is_away(
    private_postgres: PrivatePostgres, start_node: StartNode
) -> None:
    """`/health` is a readiness answer: 503 `storage unavailable` while the database is
    stopped, 200 again once it is back, without a restart of the node."""
    node = start_node("disqueue", private_postgres.dsn)
    ready = (200, None, "ok", True)
    assert health(node.url) == ready
    private_postgres.stop("fast")
    away = (503, "storage unavailable", "unavailable", False)
    wait_until(lambda: health(node.url) == away, timeout=15, what=f"/health answering {away}")
    assert 'disqueue_storage_ready{storage="postgres"} 0.0' in metrics(node.url)
    private_postgres.start()
    wait_until(lambda: health(node.url) == ready, timeout=30, interval=0.2,
               what=f"/health answering {ready} again")  # fmt: skip
    assert 'disqueue_storage_ready{storage="postgres"} 1.0' in metrics(node.url)


def metrics(url: str) -> str:
    """`GET /metrics`: a 200 whether the storage is ready or not (the alert rules of
    examples/prometheus read `disqueue_storage_ready`)."""
    with requests.Session() as session:
        session.trust_env = False
        response = session.get(url + "/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return response.text
