"""A consumer waiting on one node is woken by a put on the other (LISTEN/NOTIFY).

The latency is printed (`pytest -s`), not asserted: only a generous bound (5 s, far
above the safety-net poll) tells a wake-up that never came from a slow one.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import aiohttp

from ..e2e.helpers import (
    Api,
    Reply,
    Server,
    recv_delivery,
    send_want,
    take_with,
    ws_url,
)

WITHIN = 5.0  # seconds: a wake-up that takes longer is taken as lost


async def test_websocket_want_on_b_gets_a_put_on_a(
    nodes: tuple[Server, Server], apis: tuple[Api, Api], http: aiohttp.ClientSession
) -> None:
    """A want on B is answered by an item put on A, once; nothing stays queued."""
    a, b = apis
    queue = a.new_queue()
    async with http.ws_connect(ws_url(nodes[1].url)) as ws:
        await send_want(ws, "w1", queue)
        b.wait_for_consumers(queue, 1)
        started = time.monotonic()
        item_id = a.put(queue, "across")
        identifier, item = await recv_delivery(ws, within=WITHIN)
        print(f"\ncross-node WebSocket wake-up: {(time.monotonic() - started) * 1000:.1f} ms")
        assert identifier == "w1"
        assert (item["value"], item["key"], item["id"]) == ("across", None, item_id)
        b.wait_for_consumers(queue, 0)
    a.take(queue).error(404, "no item to take")
    b.take(queue).error(404, "no item to take")


async def test_keyed_wants_on_b_get_matching_puts_on_a(
    nodes: tuple[Server, Server], apis: tuple[Api, Api], http: aiohttp.ClientSession
) -> None:
    """Keyed wants on B get only their key's items from A (case-insensitive); an item
    no want matches stays queued."""
    a, b = apis
    queue = a.new_queue()
    async with http.ws_connect(ws_url(nodes[1].url)) as ws:
        await send_want(ws, "red", queue, key="red")
        await send_want(ws, "blue", queue, key="BLUE")
        b.wait_for_consumers(queue, 2)
        a.put(queue, "plain")
        a.put(queue, "b", key="Blue")
        a.put(queue, "r", key="RED")
        got = dict([await recv_delivery(ws, WITHIN), await recv_delivery(ws, WITHIN)])
        assert {want: item["value"] for want, item in got.items()} == {"red": "r", "blue": "b"}
    assert b.take_item(queue)["value"] == "plain"


def test_long_poll_on_b_woken_by_a_put_on_a(
    nodes: tuple[Server, Server], apis: tuple[Api, Api]
) -> None:
    """A `wait` take on B answers with the item put on A, long before its wait ends."""
    a, b = apis
    queue = a.new_queue()

    def long_poll() -> tuple[Reply, float]:
        with Api(nodes[1].url) as client:
            reply = take_with(client, queue, wait=30)
            return reply, time.monotonic()

    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(long_poll)
        b.wait_for_consumers(queue, 1)
        started = time.monotonic()
        a.put(queue, "wake up")
        reply, ended = waiting.result(timeout=35)
    print(f"\ncross-node long-poll wake-up: {(ended - started) * 1000:.1f} ms")
    assert reply.ok()["value"] == "wake up"
    assert ended - started < WITHIN, "the long poll on B was not woken by the put on A"
    a.take(queue).error(404, "no item to take")
