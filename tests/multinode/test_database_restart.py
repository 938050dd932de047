"""The database goes away in the middle of a load and comes back.

On a private PostgreSQL of the test's own (never the machine's shared one): it is
stopped twice mid-load, once as a crash (`pg_ctl stop -m immediate`) and once cleanly
(`-m fast`, which ends every session), and started again. Meanwhile every request is
answered correctly or with 503 `storage unavailable`; afterwards the service works
again and nothing acknowledged is lost.

Takes here hold a lease and ack each item (at-least-once): a take or ack cut short by
the outage cannot then lose an item, so the check can be exact. Every put answered 200
is delivered; an item is delivered again only after an ack of it failed.
"""

from __future__ import annotations

import functools
import time

import pytest

from ..e2e.helpers import Api, Server, wait_until
from ..pg import PrivatePostgres, new_schema_name
from .conftest import StartNode
from .load import STORAGE_UNAVAILABLE, Load

LEASE = 3.0  # an item whose ack was lost comes back after this
OUTAGE = 2.0  # seconds the database stays down each time


def recovered(node: Server, queue: str, value: str) -> bool:
    """Whether the node answers a put again (the item is left for the drain)."""
    with Api(node.url) as client:
        reply = client.call("POST", "/put", data={"name": queue, "value": value})
        if reply.status == 200:
            return True
        reply.error(*STORAGE_UNAVAILABLE)
        return False


@pytest.mark.timeout(150)
def test_database_restart_mid_load(
    private_postgres: PrivatePostgres, start_node: StartNode
) -> None:
    """Puts and leased takes through two nodes while the database crashes, restarts,
    shuts down and restarts: only 200 or 503 answers; every acknowledged put delivered;
    no item delivered again after a successful ack; both nodes serve again after."""
    schema = new_schema_name()
    nodes = [start_node(schema, private_postgres.dsn) for _ in range(2)]
    with Api(nodes[0].url) as a:
        queue = a.new_queue()
    load = Load(queue, allowed={STORAGE_UNAVAILABLE}, lease=LEASE)
    for n, node in enumerate(nodes):
        load.putter(node.url, f"p{n}")
        load.taker(node.url)
    try:
        for mode in ("immediate", "fast"):
            time.sleep(1.5)
            private_postgres.stop(mode)
            time.sleep(OUTAGE)
            private_postgres.start()
        time.sleep(1.5)
    finally:
        ledger = load.finish()
    for n, node in enumerate(nodes):
        value = f"recovery-{n}"
        ledger.attempted.add(value)
        check = functools.partial(recovered, node, queue, value)
        wait_until(check, timeout=30, interval=0.2, what=f"{node.url} serving again")
        ledger.acknowledged.add(value)
    with Api(nodes[1].url) as b:
        load.drain(b)
    print(f"\n{ledger.summary()}")

    assert not ledger.errors, ledger.errors[:10]
    assert ledger.acknowledged, "no put was answered during the load"
    lost = ledger.acknowledged - set(ledger.delivered)
    assert not lost, f"{len(lost)} acknowledged puts never delivered: {sorted(lost)[:10]}"
    wrong = {
        value: times
        for value, times in ledger.duplicates().items()
        if times - 1 > ledger.failed_acks[value]
    }
    assert not wrong, f"delivered again after a successful ack: {wrong}"
    for node in nodes:
        with Api(node.url) as client:
            assert client.call("GET", "/health").status == 200
            assert queue in client.queues()
