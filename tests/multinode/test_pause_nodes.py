"""A pause holds on every node of a PostgreSQL service, a resume on one node wakes the
consumers waiting on another, and a change of settings on one holds on the other."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from ..e2e.helpers import Api, Server, assert_silent, create_queue, recv_delivery, take_with, ws_url

WITHIN = 5.0  # seconds: a wake-up that takes longer is taken as lost
#: The news of a change travels to the other node by NOTIFY (milliseconds); a take reads
#: a pause from the database itself, but a node's cached settings wait for the news.
NEWS = 0.5


async def test_pause_on_a_holds_b_and_resume_on_a_wakes_b(
    nodes: tuple[Server, Server], apis: tuple[Api, Api], http: aiohttp.ClientSession
) -> None:
    """Paused through A, B delivers nothing (a take, a waiting want, puts on either node);
    resumed through A, the want waiting on B gets the oldest item at once."""
    a, b = apis
    queue = a.new_queue()
    b.take(queue).error(404, "no item to take")  # B caches the queue, unpaused, first
    assert a.call("POST", "/pause", data={"name": queue}).ok()["paused"] is True
    assert b.info(queue)["paused"] is True
    async with http.ws_connect(ws_url(nodes[1].url)) as ws:
        await ws.send_str(json.dumps({"identifier": "w", "queue": queue}))
        b.wait_for_consumers(queue, 1)
        a.put(queue, "first")
        await asyncio.sleep(NEWS)
        b.put(queue, "second")  # not handed to B's own waiting want either
        await assert_silent(ws, 0.5)
        b.take(queue).error(404, "no item to take")
        assert b.info(queue)["size"] == 2
        a.call("POST", "/resume", data={"name": queue}).ok()
        _, item = await recv_delivery(ws, within=WITHIN)
    assert item["value"] == "first"
    assert b.take_item(queue)["value"] == "second"


def test_settings_changed_on_a_hold_on_b(apis: tuple[Api, Api]) -> None:
    """B caches a queue's settings; once A changes them, B's next take leases by the new
    default lease, and B's puts get the new default delay."""
    a, b = apis
    queue = create_queue(a, lease=30)
    b.put(queue, "one")
    assert b.take_item(queue)["lease_expires"] > 0  # leased by B's cached default
    a.call("POST", "/queue/settings", data={"name": queue, "lease": "", "delay": "600"}).ok()
    time.sleep(NEWS)
    b.put(queue, "two")
    assert b.info(queue)["delayed"] == 1
    a.call("POST", "/queue/settings", data={"name": queue, "delay": ""}).ok()
    time.sleep(NEWS)
    b.put(queue, "three")
    item = take_with(b, queue).ok()
    assert item["value"] == "three" and "lease_expires" not in item
