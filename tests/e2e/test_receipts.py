"""Receipts (API.md Part 3): each leased delivery is named by its own receipt; a late ack,
release or touch with an older delivery's receipt is refused and leaves the current
delivery alone, over HTTP and WebSocket, on every backend, across restarts; batches."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests import pg

from .conftest import StartServer
from .helpers import (
    Api,
    Server,
    create_queue,
    put_item,
    recv_delivery,
    recv_reply,
    send_op,
    take_eventually,
    take_leased,
    take_with,
    ws_url,
)


def lease_op(api: Api, op: str, queue: str, receipt: str, **extra: Any) -> Any:
    return api.call("POST", f"/{op}", data={"name": queue, "receipt": receipt, **extra})


async def want(
    ws: aiohttp.ClientWebSocketResponse, identifier: str, queue: str, **opts: Any
) -> None:
    await ws.send_str(json.dumps({"identifier": identifier, "queue": queue, **opts}))


async def delivery(
    ws: aiohttp.ClientWebSocketResponse, identifier: str, within: float = 5.0
) -> dict[str, Any]:
    got, item = await recv_delivery(ws, within)
    assert got == identifier
    return item


def test_every_delivery_has_its_own_receipt(api: Api, queue: str) -> None:
    """A leased take carries a receipt; the same item delivered again carries another;
    an unleased take carries none."""
    put_item(api, queue, "v")
    first = take_leased(api, queue, 30)
    assert isinstance(first["receipt"], str) and first["receipt"]
    lease_op(api, "release", queue, first["receipt"]).ok()
    second = take_leased(api, queue, 30)
    assert second["id"] == first["id"] and second["attempts"] == 2
    assert second["receipt"] != first["receipt"]
    lease_op(api, "ack", queue, second["receipt"]).ok()
    put_item(api, queue, "plain")
    assert "receipt" not in take_with(api, queue).ok()


def test_late_receipt_is_refused_and_leaves_the_new_delivery_alone(api: Api, queue: str) -> None:
    """After a lease ran out and the item went out again, the first worker's ack, release
    and touch answer 404 `no such lease`; the second delivery is still in flight and its
    receipt acks it."""
    put_item(api, queue, "v")
    late = take_leased(api, queue, 1)
    again = take_eventually(api, queue, timeout=5.0, lease=30)
    assert again["id"] == late["id"] and again["attempts"] == 2
    lease_op(api, "ack", queue, late["receipt"]).error(404, "no such lease")
    lease_op(api, "release", queue, late["receipt"]).error(404, "no such lease")
    lease_op(api, "touch", queue, late["receipt"], lease="60").error(404, "no such lease")
    info = api.info(queue)
    assert (info["in_flight"], info["size"], info["acked"]) == (1, 0, 0)
    touched = lease_op(api, "touch", queue, again["receipt"], lease="60").ok()
    assert touched["lease_expires"] > again["lease_expires"]
    lease_op(api, "ack", queue, again["receipt"]).ok()
    lease_op(api, "ack", queue, again["receipt"]).error(404, "no such lease")
    assert api.info(queue)["in_flight"] == 0


def test_receipts_that_were_never_issued(api: Api, queue: str) -> None:
    """Text that is no receipt, or another item's, names no lease (404); a malformed
    batch is a 400."""
    put_item(api, queue, "v")
    item = take_leased(api, queue, 30)
    for bogus in ("garbage", f"{item['id']}.nope", item["receipt"] + "x", "."):
        lease_op(api, "ack", queue, bogus).error(404, "no such lease")
    for receipts in ([], "one", [1], ["r"] * 1001):
        body = {"name": queue, "receipts": receipts}
        api.call("POST", "/ack", json_body=body).error(400, "invalid parameter 'receipts'")
    assert api.info(queue)["in_flight"] == 1


def test_batch_ack_release_touch_by_receipts(api: Api, queue: str) -> None:
    """A batch names up to 1000 receipts; those not live come back in `missing`, which is
    not an error; released items keep their order at the front."""
    for value in "abcde":
        put_item(api, queue, value)
    items = take_with(api, queue, count=5, lease=30).ok()
    receipts = [item["receipt"] for item in items]
    touched = api.call(
        "POST", "/touch", json_body={"name": queue, "receipts": receipts[:2], "lease": 90}
    ).ok()
    assert touched["done"] == 2 and touched["missing"] == []
    assert touched["lease_expires"] > items[0]["lease_expires"]
    acked = api.call(
        "POST", "/ack", json_body={"name": queue, "receipts": [receipts[0], "nope", receipts[0]]}
    ).ok()
    assert acked == {"done": 1, "missing": ["nope", receipts[0]]}
    released = api.call(
        "POST", "/release", json_body={"name": queue, "receipts": receipts[1:4]}
    ).ok()
    assert released == {"done": 3, "missing": []}
    assert [take_with(api, queue).ok()["value"] for _ in range(3)] == ["b", "c", "d"]
    delayed = api.call(
        "POST", "/release", json_body={"name": queue, "receipts": receipts[3:], "delay": 30}
    ).ok()
    assert delayed == {"done": 1, "missing": [receipts[3]]}
    info = api.info(queue)
    assert (info["in_flight"], info["delayed"], info["size"], info["acked"]) == (0, 1, 0, 1)


async def test_websocket_late_receipt_is_refused(
    open_server: Server, api: Api, queue: str, http: aiohttp.ClientSession
) -> None:
    """On the WebSocket too: the first consumer's lease runs out, a second consumer gets
    the item; the first's ack by its receipt is refused, the second's acks it; closing
    the first does not release the second's delivery."""
    put_item(api, queue, "v")
    async with (
        http.ws_connect(ws_url(open_server.url)) as first,
        http.ws_connect(ws_url(open_server.url)) as second,
    ):
        await want(first, "w1", queue, lease=1)
        late = await delivery(first, "w1")
        await want(second, "w2", queue, lease=30)
        current = await delivery(second, "w2", within=5.0)
        assert current["id"] == late["id"] and current["receipt"] != late["receipt"]
        await send_op(first, "ack", "a1", queue, receipt=late["receipt"])
        reply = await recv_reply(first, "a1")
        assert (reply["success"], reply["message"]) == (False, "no such lease")
        await first.close()
        await asyncio.sleep(0.2)
        assert api.info(queue)["in_flight"] == 1  # still the second consumer's
        await send_op(second, "ack", "a2", queue, receipts=[current["receipt"], "x"])
        reply = await recv_reply(second, "a2")
        assert reply["payload"] == {"id": "a2", "done": 1, "missing": ["x"]}
    info = api.info(queue)
    assert (info["in_flight"], info["size"], info["acked"]) == (0, 0, 1)


async def test_websocket_batch_release_and_touch(
    open_server: Server, api: Api, queue: str, http: aiohttp.ClientSession
) -> None:
    """`receipts` in a WebSocket release or touch, as over HTTP."""
    for value in "xy":
        put_item(api, queue, value)
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await want(ws, "w", queue, lease=30, count=2)
        items = [await delivery(ws, "w") for _ in range(2)]
        receipts = [item["receipt"] for item in items]
        await send_op(ws, "touch", "t", queue, receipts=receipts, lease=120)
        touched = (await recv_reply(ws, "t"))["payload"]
        assert touched["done"] == 2 and touched["lease_expires"] > items[1]["lease_expires"]
        await send_op(ws, "release", "r", queue, receipts=receipts)
        assert (await recv_reply(ws, "r"))["payload"] == {"id": "r", "done": 2, "missing": []}
    assert [take_with(api, queue).ok()["value"] for _ in range(2)] == ["x", "y"]


def _durable(kind: str, stack: Any) -> dict[str, Any]:
    if kind == "sqlite":
        return {"storage": {"type": "sqlite"}}
    return {"storage": pg.storage(stack.enter_context(pg.fresh_schema()))}


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_receipts_survive_a_restart(start_server: StartServer, tmp_path: Path, kind: str) -> None:
    """A delivery made before a `kill -9` and still leased after the restart keeps its
    receipt (ack works, the id's older receipt does not); one whose lease ran out while
    the server was down is refused."""
    with ExitStack() as stack:
        server = start_server(_durable(kind, stack), directory=tmp_path / "node")
        with Api(server.url) as api:
            queue = create_queue(api)
            put_item(api, queue, "kept")
            put_item(api, queue, "lapsed")
            kept = take_leased(api, queue, 60)
            lease_op(api, "release", queue, kept["receipt"]).ok()
            kept, older = take_leased(api, queue, 60), kept
            lapsed = take_leased(api, queue, 1)
        server.stop(signal.SIGKILL)
        time.sleep(max(0.0, lapsed["lease_expires"] - time.time()) + 0.2)
        server = start_server(server.config, directory=tmp_path / "node")
        with Api(server.url) as api:
            lease_op(api, "ack", queue, older["receipt"]).error(404, "no such lease")
            lease_op(api, "ack", queue, lapsed["receipt"]).error(404, "no such lease")
            lease_op(api, "ack", queue, kept["receipt"]).ok()
            back = take_eventually(api, queue, timeout=5.0, lease=30)
            assert (back["value"], back["attempts"]) == ("lapsed", 2)
            assert back["receipt"] != lapsed["receipt"]
