"""A node dies (`kill -9`): the other node carries on with everything it left behind
(leases, delays, acknowledged puts)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest

from ..e2e.helpers import (
    Api,
    Server,
    put_item,
    recv_delivery,
    take_eventually,
    take_leased,
    take_with,
    ws_url,
)
from .load import Load


def test_lease_of_a_dead_node_is_reclaimed_by_the_other(
    nodes: tuple[Server, Server], apis: tuple[Api, Api]
) -> None:
    """Take with lease=1 on A, kill -9 A: B delivers the item again, attempts 2."""
    a, b = apis
    queue = a.new_queue()
    item_id = a.put(queue, "job")
    first = take_leased(a, queue, lease=1)
    assert (first["id"], first["attempts"]) == (item_id, 1)
    nodes[0].kill()
    again = take_eventually(b, queue, timeout=10, lease=30)
    assert (again["id"], again["value"], again["attempts"]) == (item_id, "job", 2)
    assert b.call("POST", "/ack", data={"name": queue, "id": item_id}).ok() is None
    b.take(queue).error(404, "no item to take")
    info = b.info(queue)
    assert (info["size"], info["in_flight"], info["acked"]) == (0, 0, 1), info


def test_lease_of_a_dead_node_wakes_a_long_poll_on_the_other(
    nodes: tuple[Server, Server], apis: tuple[Api, Api]
) -> None:
    """A long poll waiting on B when A's lease runs out (A dead) gets the item: B
    notices the expiry itself, nobody polls."""
    a, b = apis
    queue = a.new_queue()
    item_id = a.put(queue, "job")
    take_leased(a, queue, lease=1)
    nodes[0].kill()

    def long_poll() -> dict[str, object]:
        with Api(nodes[1].url) as client:
            item: dict[str, object] = take_with(client, queue, wait=20, lease=30).ok()
            return item

    with ThreadPoolExecutor(max_workers=1) as pool:
        item = pool.submit(long_poll).result(timeout=25)
    assert (item["id"], item["value"], item["attempts"]) == (item_id, "job", 2)
    b.take(queue).error(404, "no item to take")
    assert b.info(queue)["in_flight"] == 1


async def test_delayed_item_of_a_dead_node_reaches_a_want_on_the_other(
    nodes: tuple[Server, Server], apis: tuple[Api, Api], http: aiohttp.ClientSession
) -> None:
    """Put with delay=1.5 on A, kill -9 A: a WebSocket want on B gets the item once the
    delay is over (and not before)."""
    a, b = apis
    queue = a.new_queue()
    put_at = time.time()
    item_id = put_item(a, queue, "later", delay=1.5)
    nodes[0].kill()
    async with http.ws_connect(ws_url(nodes[1].url)) as ws:
        await ws.send_json({"identifier": "w", "queue": queue})
        identifier, item = await recv_delivery(ws, within=15)
    assert time.time() >= put_at + 1.5 - 0.05, "delivered before its delay was over"
    assert (identifier, item["id"], item["value"]) == ("w", item_id, "later")
    b.take(queue).error(404, "no item to take")


@pytest.mark.timeout(90)
def test_kill_9_of_a_node_under_load_loses_no_acknowledged_put(
    nodes: tuple[Server, Server], apis: tuple[Api, Api]
) -> None:
    """Puts through both nodes and takes through B; A is killed mid-load. Every put that
    was answered 200 is taken exactly once; nothing is taken that was not put."""
    a, b = apis
    queue = a.new_queue()
    load = Load(queue, mortal={nodes[0].url})
    for n in range(2):
        load.putter(nodes[0].url, f"a{n}")
        load.putter(nodes[1].url, f"b{n}")
    load.taker(nodes[1].url)
    time.sleep(1.5)
    acknowledged_before_kill = len(load.ledger.acknowledged)
    nodes[0].kill()
    time.sleep(1.5)
    ledger = load.finish()
    load.drain(b)
    print(f"\n{ledger.summary()}")

    assert not ledger.errors, ledger.errors[:10]
    assert acknowledged_before_kill > 0, "no put was answered before the kill"
    assert any(value.startswith("b") for value in ledger.acknowledged)
    assert not ledger.duplicates(), f"delivered twice: {list(ledger.duplicates())[:10]}"
    lost = ledger.acknowledged - set(ledger.delivered)
    assert not lost, f"{len(lost)} acknowledged puts lost: {sorted(lost)[:10]}"
