"""A put while a consumer waits with a lease (issue 14): the item is stored already in
flight for that consumer, in one write, and delivered. The same contract as a put then a
leased take: a receipt, attempts 1, the lease kept across a crash, given back when the
consumer goes away, and no shortcut where the queue's rules make the item wait."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .conftest import StartServer
from .helpers import (
    Api,
    create_queue,
    durable_config,
    put_item,
    recv_delivery,
    take_leased,
    ws_url,
)

KINDS = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=KINDS)
def config(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A server configuration on each backend (PostgreSQL: a fresh schema)."""
    if request.param == "memory":
        yield {"storage": {"type": "memory"}}
        return
    with ExitStack() as stack:
        yield durable_config(request.param, stack)


async def _leased_want(ws: aiohttp.ClientWebSocketResponse, api: Api, queue: str) -> None:
    """A want with a 30 s lease on `queue`, once the server has it waiting."""
    waiting = api.info(queue)["consumers"]
    await ws.send_str(json.dumps({"identifier": "w", "queue": queue, "lease": 30}))
    await asyncio.to_thread(api.wait_for_consumers, queue, waiting + 1)


async def test_put_to_a_waiting_leased_consumer_is_its_first_delivery(
    start_server: StartServer, tmp_path: Path, config: dict[str, Any]
) -> None:
    """The waiting consumer gets the put as a leased delivery (receipt, attempts 1); the
    queue counts it in flight, and the receipt acks it."""
    server = start_server(config, directory=tmp_path / "node")
    with Api(server.url) as api:
        queue = create_queue(api)
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(server.url)) as ws:
            await _leased_want(ws, api, queue)
            before = time.time()
            item_id = await asyncio.to_thread(put_item, api, queue, "hot", "k")
            _, item = await recv_delivery(ws)
            assert (item["id"], item["value"], item["key"], item["attempts"]) == (
                item_id, "hot", "k", 1,
            )  # fmt: skip
            assert item["receipt"].startswith(item_id + ".")
            assert before + 29 < item["lease_expires"] < time.time() + 31
            info = api.info(queue)
            assert (info["size"], info["in_flight"], info["put"], info["taken"]) == (0, 1, 1, 1)
            await ws.send_str(
                json.dumps(
                    {"op": "ack", "identifier": "a1", "queue": queue, "receipt": item["receipt"]}
                )
            )
            answer = json.loads((await ws.receive()).data)
            assert answer["success"] is True, answer
            assert api.info(queue)["in_flight"] == 0


@pytest.mark.parametrize("config", ["sqlite", "postgres"], indirect=True)
async def test_a_leased_hand_off_survives_a_crash_under_its_receipt(
    start_server: StartServer, tmp_path: Path, config: dict[str, Any]
) -> None:
    """kill -9 right after the delivery: the item is still in flight after the restart,
    under the same receipt, which acks it (it was written leased, not ready)."""
    server = start_server(config, directory=tmp_path / "node")
    with Api(server.url) as api:
        queue = create_queue(api)
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(server.url)) as ws:
            await _leased_want(ws, api, queue)
            await asyncio.to_thread(put_item, api, queue, "survives")
            _, item = await recv_delivery(ws)
            server.stop(signal.SIGKILL)
    server = start_server(server.config, directory=tmp_path / "node")
    with Api(server.url) as api:
        info = api.info(queue)
        assert (info["size"], info["in_flight"]) == (0, 1)
        api.call("POST", "/ack", data={"name": queue, "receipt": item["receipt"]}).ok()
        assert api.info(queue)["in_flight"] == 0


async def test_a_leased_hand_off_comes_back_when_its_consumer_leaves(
    start_server: StartServer, tmp_path: Path, config: dict[str, Any]
) -> None:
    """The consumer closes without acking: the item it was handed is released (the
    connection's leases are), and the next take gets it as delivery 2."""
    server = start_server(config, directory=tmp_path / "node")
    with Api(server.url) as api:
        queue = create_queue(api)
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(server.url)) as ws:
            await _leased_want(ws, api, queue)
            item_id = await asyncio.to_thread(put_item, api, queue, "again")
            assert (await recv_delivery(ws))[1]["id"] == item_id
        again = await asyncio.to_thread(take_leased, api, queue, 30)
        assert (again["id"], again["attempts"]) == (item_id, 2)


async def test_no_leased_hand_off_where_the_item_must_wait(
    start_server: StartServer, tmp_path: Path, config: dict[str, Any]
) -> None:
    """A paused queue keeps the put for the resume; a queue with a default delay keeps it
    until the delay is over: the waiting consumer gets it only then."""
    server = start_server(config, directory=tmp_path / "node")
    with Api(server.url) as api:
        paused = create_queue(api)
        delayed = create_queue(api, delay=1)
        api.call("POST", "/pause", data={"name": paused}).ok()
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(ws_url(server.url)) as a,
            session.ws_connect(ws_url(server.url)) as b,
        ):
            await _leased_want(a, api, paused)
            await _leased_want(b, api, delayed)
            await asyncio.to_thread(put_item, api, paused, "held")
            put_at = time.monotonic()
            await asyncio.to_thread(put_item, api, delayed, "later")
            info = api.info(paused)
            assert (info["size"], info["in_flight"]) == (1, 0)
            _, later = await recv_delivery(b, within=5)
            assert later["value"] == "later"
            assert time.monotonic() - put_at >= 0.9  # not before its delay
            api.call("POST", "/resume", data={"name": paused}).ok()
            _, held = await recv_delivery(a)
            assert (held["value"], held["attempts"]) == ("held", 1)
