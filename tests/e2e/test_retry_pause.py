"""Retry delays, pause and resume, and purge in flight (API.md Part 3), over HTTP and the
WebSocket, on every backend."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from .helpers import (
    Api,
    Server,
    assert_silent,
    create_queue,
    lease_call,
    put_item,
    recv_delivery,
    take_eventually,
    take_leased,
    take_with,
    ws_url,
)


def test_retry_delay_counts_from_the_lease_end(api: Api) -> None:
    """A lease that runs out hides the item for the first retry delay after the lease's end
    (not before it; bounded, not timed exactly); the next delivery is attempt 2."""
    queue = create_queue(api, retry_delays="1.5,30")
    put_item(api, queue, "flaky")
    leased = take_leased(api, queue, 0.3)
    item = take_eventually(api, queue, timeout=10, lease=30)
    seen = time.time()
    assert item["id"] == leased["id"] and item["attempts"] == 2
    assert seen >= leased["lease_expires"] + 1.5 - 0.05, (seen, leased["lease_expires"])
    # Released without a delay of its own: the second retry delay (30 s) holds it back.
    assert lease_call(api, "release", queue, None, receipt=item["receipt"]).ok() is None
    info = api.info(queue)
    assert (info["size"], info["delayed"], info["retry_delays"]) == (0, 1, [1.5, 30.0])
    take_with(api, queue).error(404, "no item to take")


def test_release_with_its_own_delay_wins_over_retry_delays(api: Api) -> None:
    """release with delay=0 gives the item back at once, whatever the queue's retry delays."""
    queue = create_queue(api, retry_delays="30")
    put_item(api, queue, "v")
    leased = take_leased(api, queue, 30)
    lease_call(api, "release", queue, None, receipt=leased["receipt"], delay=0).ok()
    assert take_with(api, queue).ok()["value"] == "v"


@pytest.mark.parametrize("delays", ["1,-1", "0", ",".join(["1"] * 11), "1,43200.5", "soon", "1,,2"])
def test_bad_retry_delays_are_refused(api: Api, delays: str) -> None:
    """More than 10 retry delays, or one that is not a number in (0, 43200], is a 400."""
    reply = api.call("POST", "/queues", data={"retry_delays": delays})
    reply.error(400, "invalid parameter 'retry_delays'")


def test_retry_delays_in_a_json_body(api: Api) -> None:
    """A JSON body may send retry_delays as an array of numbers."""
    queue = api.call("POST", "/queues", json_body={"retry_delays": [2, 4.5]}).ok()
    assert api.info(queue)["retry_delays"] == [2.0, 4.5]
    assert api.info(api.new_queue())["retry_delays"] is None


async def test_pause_holds_a_websocket_consumer_and_a_long_poll(
    api: Api, open_server: Server, http: aiohttp.ClientSession
) -> None:
    """While paused, puts are stored, a waiting WebSocket want and a long poll get nothing
    (a peek still sees the head) and a lease in flight can still be acked; resume serves
    both waiting consumers at once."""
    queue = api.new_queue()
    put_item(api, queue, "in flight")
    leased = take_leased(api, queue, 30)
    assert api.call("POST", "/pause", data={"name": queue}).ok()["paused"] is True
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await ws.send_str(json.dumps({"identifier": "w", "queue": queue}))
        poll = asyncio.create_task(
            http.post(f"{open_server.url}/take", data={"name": queue, "wait": "20"})
        )
        await asyncio.to_thread(api.wait_for_consumers, queue, 2)
        await asyncio.to_thread(put_item, api, queue, "one")
        await asyncio.to_thread(put_item, api, queue, "two")
        await assert_silent(ws, 0.5)
        assert not poll.done()
        info = api.info(queue)
        assert (info["paused"], info["size"], info["in_flight"]) == (True, 2, 1)
        assert api.peek(queue).ok()["value"] == "one"
        take_with(api, queue).error(404, "no item to take")
        assert lease_call(api, "ack", queue, None, receipt=leased["receipt"]).ok() is None
        metrics = await (await http.get(f"{open_server.url}/metrics")).text()
        assert f'disqueue_queue_paused{{queue="{queue}"}} 1.0' in metrics
        assert api.call("POST", "/resume", data={"name": queue}).ok()["paused"] is False
        _, delivered = await recv_delivery(ws)
        answer = await (await asyncio.wait_for(poll, 10)).json()
    assert {delivered["value"], answer["payload"]["value"]} == {"one", "two"}
    assert api.info(queue)["paused"] is False


def test_pause_and_resume_need_a_queue(api: Api) -> None:
    """pause and resume of a missing queue are 404s; without a name, 400s."""
    missing = "2a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"
    for path in ("/pause", "/resume"):
        api.call("POST", path, data={"name": missing}).error(404, "queue does not exist")
        api.call("POST", path, data={}).error(400, "missing parameter 'name'")


def test_purge_in_flight_ends_the_leases(api: Api, queue: str) -> None:
    """purge in_flight=1 drops the leased items too: their receipts then name nothing."""
    put_item(api, queue, "leased")
    leased = take_leased(api, queue, 30)
    put_item(api, queue, "ready")
    reply = api.call("POST", "/purge", data={"name": queue, "in_flight": "1"})
    assert reply.ok() == {"purged": 2}
    info = api.info(queue)
    assert (info["size"], info["delayed"], info["in_flight"]) == (0, 0, 0)
    lease_call(api, "ack", queue, None, receipt=leased["receipt"]).error(404, "no such lease")
    api.call("POST", "/purge", data={"name": queue, "in_flight": "yes"}).error(
        400, "invalid parameter 'in_flight'"
    )
