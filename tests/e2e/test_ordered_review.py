"""Review of "Ordered keys, the core" (fc1cbd4) on the real server, every backend:
consumers at once over real sockets (the invariant, not timings), and a WebSocket want
waiting on a held group. Each finding was a strict xfail here until it was fixed
(decision 0012 says what changed); they pin the behaviour now."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from .helpers import (
    Api,
    Server,
    create_queue,
    lease_call,
    put_item,
    recv_delivery,
    take_with,
    ws_url,
)

#: Concurrent takes per round, and rounds at most: enough that takes meet in storage
#: (with the bugs, a round in three or more hits; the test stops at the first).
TAKERS, ROUNDS = 8, 60


async def _take(http: aiohttp.ClientSession, url: str, queue: str) -> list[dict[str, Any]]:
    form = {"name": queue, "lease": "60", "count": "1"}
    async with http.post(f"{url}/take", data=form) as resp:
        body = await resp.json()
    if resp.status == 404:
        return []
    assert resp.status == 200, body
    payload = body["payload"]
    return payload if isinstance(payload, list) else [payload]


async def test_consumers_at_once_never_hold_two_items_of_a_group(
    open_server: Server, api: Api, http: aiohttp.ClientSession
) -> None:
    """Many consumers taking from an ordered queue at once (each its own HTTP request):
    after each round of takes, no key has two items in flight (the review's bug 1:
    SQLite and PostgreSQL gave one group's items to several consumers at once)."""
    queue = create_queue(api, ordered=1)
    for round_ in range(ROUNDS):
        for n in range(TAKERS):
            put_item(api, queue, f"{round_}-{n}", key="k")
        takes = await asyncio.gather(*(_take(http, open_server.url, queue) for _ in range(TAKERS)))
        in_flight = [item["value"] for items in takes for item in items]
        assert len(in_flight) == 1, (round_, in_flight)
        api.call("POST", "/purge", data={"name": queue, "in_flight": "1"}).ok()


async def test_a_websocket_want_on_a_held_group_gets_the_next_item_on_ack(
    open_server: Server, api: Api, http: aiohttp.ClientSession
) -> None:
    """A WebSocket want waiting while the group is held (a put never goes to it by
    hand-off) gets the group's next item once the head is acked over HTTP, and the
    put order holds."""
    ordered = create_queue(api, ordered=1)
    for value in ("a1", "a2", "a3"):
        put_item(api, ordered, value, key="a")
    head = take_with(api, ordered, lease=60).ok()
    assert head["value"] == "a1"
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await ws.send_json({"identifier": "w", "queue": ordered, "lease": 60, "count": 2})
        put_item(api, ordered, "b1", key="b")  # a free group: delivered at once
        assert (await recv_delivery(ws, 10))[1]["value"] == "b1"
        lease_call(api, "ack", ordered, head["id"]).ok()
        _, item = await recv_delivery(ws, 10)
        assert item["value"] == "a2"
    assert api.info(ordered)["ordered"] is True


def test_a_re_create_with_ordered_0_of_an_ordered_queue_is_a_conflict(api: Api) -> None:
    """`ordered=0` is a setting given, and not the queue's own: 409 (API.md Part 3,
    "Re-creating an existing queue with settings that differ from its own"; review bug
    7: the edge read an absent and a 0 `ordered` alike). A re-create that does not name
    `ordered` is compared on the rest."""
    queue = create_queue(api, ordered=1)
    reply = api.call("POST", "/queues", data={"name": queue, "ordered": "0"})
    reply.error(409, "queue exists with other settings")
    assert api.call("POST", "/queues", data={"name": queue, "ordered": "1"}).ok() == queue
    assert api.call("POST", "/queues", data={"name": queue}).ok() == queue
    plain = create_queue(api, lease=5)
    assert api.call("POST", "/queues", data={"name": plain, "lease": "5"}).ok() == plain
    reply = api.call("POST", "/queues", data={"name": plain, "ordered": "1", "lease": "5"})
    reply.error(409, "queue exists with other settings")
