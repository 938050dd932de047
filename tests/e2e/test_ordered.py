"""Ordered keys (API.md Part 3 "Ordered keys (message groups)"): on a queue created with
`ordered=1` each key is a group delivered in put order, and no later item of a key is
delivered while one of it is in flight. Over HTTP, the WebSocket and `disqueuectl`, on
every backend; a restart (and a kill -9) keeps the groups held."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import pytest

from .conftest import StartServer
from .groups import consume_all, fill_runs
from .helpers import (
    PYTHON,
    Api,
    Server,
    assert_silent,
    create_queue,
    durable_config,
    lease_call,
    put_item,
    recv_delivery,
    recv_reply,
    send_op,
    take_eventually,
    take_leased,
    take_with,
    ws_url,
)
from .test_ctl import as_json, ok


def _values(reply: object) -> list[str]:
    assert isinstance(reply, list), reply
    return [item["value"] for item in reply]


def test_groups_are_delivered_in_order_one_in_flight_at_a_time(api: Api) -> None:
    """Leased takes skip a group with an item in flight, and a leased take with a count
    gets one item per group; items without a key are never held; a keyed take gets its
    group's head only when the group is free."""
    queue = create_queue(api, ordered=1)
    assert api.info(queue)["ordered"] is True
    for value, key in [("a1", "a"), ("a2", "a"), ("b1", "b"), ("n1", None), ("a3", "A")]:
        put_item(api, queue, value, key)
    first = take_leased(api, queue, 30)
    assert first["value"] == "a1"
    assert _values(take_with(api, queue, count=5, lease=30).ok()) == ["b1", "n1"]
    take_with(api, queue, "a", lease=30).error(404, "no item to take")
    api.peek(queue).error(404, "no item to peek")  # what a take would get: nothing
    lease_call(api, "ack", queue, None, receipt=first["receipt"]).ok()
    assert api.peek(queue, "a").ok()["value"] == "a2"
    assert _values(take_with(api, queue, "A", count=5, lease=30).ok()) == ["a2"]
    assert api.info(queue)["in_flight"] == 3


def test_a_group_frees_on_release_lease_end_dead_letter_and_purge(api: Api) -> None:
    """A release without a delay puts the head back first; a lease that runs out frees
    the group with its item first again; the last attempt's dead letter frees it for
    the next item; a purge of the items in flight frees every group."""
    letters = api.new_queue()
    queue = create_queue(api, ordered=1, max_attempts=3, dead_letter=letters)
    for value in ["a1", "a2"]:
        put_item(api, queue, value, "a")
    leased = take_leased(api, queue, 30)
    lease_call(api, "release", queue, None, receipt=leased["receipt"]).ok()
    short = take_leased(api, queue, 0.3)
    assert short["value"] == "a1"
    again = take_eventually(api, queue, timeout=10, lease=30)
    assert (again["value"], again["attempts"]) == ("a1", 3)
    lease_call(api, "release", queue, None, receipt=again["receipt"]).ok()  # its last
    assert api.peek(letters).ok()["value"] == "a1"
    assert take_leased(api, queue, 30)["value"] == "a2"
    put_item(api, queue, "a3", "a")
    take_with(api, queue, lease=30).error(404, "no item to take")
    assert api.call("POST", "/purge", data={"name": queue, "in_flight": "1"}).ok() == {"purged": 2}
    put_item(api, queue, "a4", "a")
    assert take_leased(api, queue, 30)["value"] == "a4"


def test_a_release_with_delay_keeps_the_group_held(api: Api) -> None:
    """The released head waits at the front of its group: a later item of its key does
    not overtake it, other groups go on."""
    queue = create_queue(api, ordered=1)
    for value, key in [("a1", "a"), ("a2", "a"), ("b1", "b")]:
        put_item(api, queue, value, key)
    leased = take_leased(api, queue, 30)
    lease_call(api, "release", queue, None, receipt=leased["receipt"], delay=0.5).ok()
    assert take_leased(api, queue, 30)["value"] == "b1"
    take_with(api, queue, lease=30).error(404, "no item to take")
    back = take_eventually(api, queue, timeout=10, lease=30)
    assert (back["value"], back["attempts"]) == ("a1", 2)


def test_bad_input_is_refused(api: Api) -> None:
    """A priority on an ordered queue is a 400 (form, JSON and batch), `ordered` cannot
    change by settings, a re-create with another `ordered` is a 409, and a JSON body may
    create one with `true`."""
    queue = api.call("POST", "/queues", json_body={"ordered": True}).ok()
    assert api.info(queue)["ordered"] is True
    api.call("POST", "/put", data={"name": queue, "value": "v", "priority": "1"}).error(
        400, "invalid parameter 'priority'"
    )
    batch = {"name": queue, "items": [{"value": "v"}, {"value": "w", "priority": 2}]}
    api.call("POST", "/put", json_body=batch).error(400, "items[1]: invalid parameter 'priority'")
    put_item(api, queue, "zero", priority=0)  # the default is fine
    for ordered in ("0", "1"):
        api.call("POST", "/queue/settings", data={"name": queue, "ordered": ordered}).error(
            400, "invalid parameter 'ordered': it cannot change"
        )
    api.call("POST", "/queues", data={"name": queue, "ordered": "0", "lease": "5"}).error(
        409, "queue exists with other settings"
    )
    assert api.call("POST", "/queues", data={"name": queue, "ordered": "1"}).ok() == queue
    plain = api.new_queue()
    api.call("POST", "/queues", data={"name": plain, "ordered": "1"}).error(
        409, "queue exists with other settings"
    )
    api.call("POST", "/queues", data={"ordered": "maybe"}).error(400, "invalid parameter 'ordered'")
    assert api.info(plain)["ordered"] is False
    assert api.info(queue)["size"] == 1


async def test_a_waiting_websocket_consumer_and_a_long_poll_wake_when_a_group_frees(
    api: Api, open_server: Server, http: aiohttp.ClientSession
) -> None:
    """No put makes the next item of a held group takeable: its ack does, and it wakes a
    leased WebSocket want and a long poll waiting on the queue. (A WebSocket put with a
    priority is refused there too.)"""
    queue = create_queue(api, ordered=1)
    for value in ["a1", "a2", "a3"]:
        put_item(api, queue, value, "a")
    first = take_leased(api, queue, 30)
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_op(ws, "put", "p", queue, value="v", key="a", priority=3)
        reply = await recv_reply(ws, "p")
        assert (reply["success"], reply["message"]) == (False, "invalid parameter 'priority'")
        await ws.send_str(json.dumps({"identifier": "w", "queue": queue, "lease": 30}))
        await assert_silent(ws)
        lease_call(api, "ack", queue, None, receipt=first["receipt"]).ok()
        _, item = await recv_delivery(ws, 10)
        assert item["value"] == "a2"
        poll = asyncio.create_task(asyncio.to_thread(take_with, api, queue, lease=30, wait=20))
        await asyncio.to_thread(api.wait_for_consumers, queue, 1)
        await ws.send_str(json.dumps({"op": "ack", "identifier": "x", "queue": queue,
                                      "receipt": item["receipt"]}))  # fmt: skip
        assert (await poll).ok()["value"] == "a3"


async def test_a_put_is_not_handed_past_its_held_group(
    api: Api, open_server: Server, http: aiohttp.ClientSession
) -> None:
    """A plain put is never handed straight to a waiting consumer on an ordered queue: a
    want without a lease gets the put of another group, not the next item of a group in
    flight; that one waits for the ack."""
    queue = create_queue(api, ordered=1)
    put_item(api, queue, "a1", "a")
    first = take_leased(api, queue, 30)
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await ws.send_str(json.dumps({"identifier": "w", "queue": queue, "count": 2}))
        await asyncio.to_thread(api.wait_for_consumers, queue, 1)
        put_item(api, queue, "a2", "a")
        await assert_silent(ws)
        put_item(api, queue, "b1", "b")
        assert (await recv_delivery(ws, 10))[1]["value"] == "b1"
        lease_call(api, "ack", queue, None, receipt=first["receipt"]).ok()
        assert (await recv_delivery(ws, 10))[1]["value"] == "a2"


def test_a_consumer_that_dies_mid_group_frees_it_when_its_lease_ends(api: Api) -> None:
    """A consumer process takes a group's head over HTTP and is killed (-9) without an
    ack: the group stays held until the lease ends, then the head comes again, and only
    once it is acked the next item of the group."""
    queue = create_queue(api, ordered=1)
    for value in ["a1", "a2"]:
        put_item(api, queue, value, "a")
    put_item(api, queue, "b1", "b")
    command = [PYTHON, "-c", _CONSUMER, api.base_url, queue]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as consumer:
        try:
            assert consumer.stdout is not None
            assert consumer.stdout.readline().strip() == "a1"
        finally:
            consumer.kill()
    assert take_leased(api, queue, 30)["value"] == "b1"  # other groups go on
    poll = take_with(api, queue, lease=30, wait=30).ok()  # held until the lease ends
    assert (poll["value"], poll["attempts"]) == ("a1", 2)
    take_with(api, queue, lease=30).error(404, "no item to take")
    lease_call(api, "ack", queue, None, receipt=poll["receipt"]).ok()
    assert take_leased(api, queue, 30)["value"] == "a2"


#: A consumer that takes one item with a 2-second lease, says which, and hangs.
_CONSUMER = """
import json, sys, time, urllib.parse, urllib.request
form = urllib.parse.urlencode({"name": sys.argv[2], "lease": "2"}).encode()
answer = json.load(urllib.request.urlopen(sys.argv[1] + "/take", form))
print(answer["payload"]["value"], flush=True)
time.sleep(600)
"""


async def test_a_websocket_consumer_that_goes_away_frees_its_group_at_once(
    api: Api, open_server: Server, http: aiohttp.ClientSession
) -> None:
    """A WebSocket connection that closes releases its leases (API.md Part 2): the
    group's head is the next delivery, before any later item of its key."""
    queue = create_queue(api, ordered=1)
    for value in ["a1", "a2"]:
        put_item(api, queue, value, "a")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await ws.send_str(json.dumps({"identifier": "w", "queue": queue, "lease": 60}))
        _, item = await recv_delivery(ws, 10)
        assert item["value"] == "a1"
    again = take_eventually(api, queue, timeout=10, lease=30)
    assert (again["value"], again["attempts"]) == ("a1", 2)


def test_eight_consumers_keep_every_group_in_order(api: Api) -> None:
    """Eight consumers at once (take count=3 with a lease, ack): each key's items are
    acked in put order, and none is delivered while the one before it is in flight."""
    queue = create_queue(api, ordered=1)
    total = fill_runs(api, queue, 20, 100)
    groups, counts = consume_all([api.base_url] * 8, queue, total)
    assert (sum(counts), groups.overlaps) == (total, [])
    assert groups.acked == {f"k{k}": list(range(100)) for k in range(20)}


def test_disqueuectl_creates_an_ordered_queue(open_server: Server) -> None:
    """`disqueuectl create --ordered`; `info` shows it."""
    url = ("--url", open_server.url)
    name = ok("create", "--ordered", *url).strip()
    assert as_json("info", name, *url)["ordered"] is True
    assert "ordered        True" in ok("info", name, *url).splitlines()
    assert as_json("info", ok("create", *url).strip(), *url)["ordered"] is False


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_restart_keeps_the_queue_ordered_and_its_groups_held(
    start_server: StartServer, tmp_path: Path, kind: str, how: signal.Signals
) -> None:
    """After a restart (stopped, or killed with -9) the queue is still ordered and a lease
    in flight still holds its group, until it is acked."""
    with ExitStack() as stack:
        server = start_server(durable_config(kind, stack), directory=tmp_path / "node")
        with Api(server.url) as api:
            queue = create_queue(api, ordered=1)
            for value, key in [("a1", "a"), ("a2", "a"), ("b1", "b")]:
                put_item(api, queue, value, key)
            leased = take_leased(api, queue, 60)
        if how == signal.SIGKILL:
            server.kill()
        else:
            server.stop()
        server = start_server(server.config, directory=tmp_path / "node")
        with Api(server.url) as api:
            assert api.info(queue)["ordered"] is True
            assert _values(take_with(api, queue, count=3, lease=60).ok()) == ["b1"]
            lease_call(api, "ack", queue, None, receipt=leased["receipt"]).ok()
            assert take_leased(api, queue, 60)["value"] == "a2"
        server.stop()
