"""A pause holds on every node of a PostgreSQL service, and a resume on one node wakes
the consumers waiting on another."""

from __future__ import annotations

import json

import aiohttp

from ..e2e.helpers import Api, Server, assert_silent, recv_delivery, ws_url

WITHIN = 5.0  # seconds: a wake-up that takes longer is taken as lost


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
        b.put(queue, "second")  # not handed to B's own waiting want either
        await assert_silent(ws, 0.5)
        b.take(queue).error(404, "no item to take")
        assert b.info(queue)["size"] == 2
        a.call("POST", "/resume", data={"name": queue}).ok()
        _, item = await recv_delivery(ws, within=WITHIN)
    assert item["value"] == "first"
    assert b.take_item(queue)["value"] == "second"
