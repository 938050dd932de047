"""A disk that fails (EIO, ENOSPC on write or on fsync) or stalls, under a running server.

While the fault lasts nothing is acknowledged and nothing is handed out twice; when it
clears, the same process serves again; after a power cut everything acknowledged is
there. The fsync faults follow Linux: a failed fsync drops the pages it should have
written (tests/powerfs.py), so a server that took a later successful fsync as covering
them ("fsyncgate") would lose items at the cut.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

from .helpers import Api, Server, launch, lease_call, take_with, wait_until, ws_url
from .power import PowerDisk, power_disk

QUEUE = "8f1e2d3c-4b5a-4978-a6b5-c4d3e2f1a0b9"
FAULTS = [("write", "EIO"), ("write", "ENOSPC"), ("fsync", "EIO"), ("fsync", "ENOSPC")]


def _config(disk: PowerDisk) -> dict[str, Any]:
    return {"storage": {"type": "sqlite", "path": str(disk.mount / "data" / "disqueue.db")}}


def _assert_not_ready(server: Server) -> None:
    """/health answers 503 with the storage not ready (its failure payload is the only
    one with fields, so not through `Api`)."""
    try:
        reply = requests.get(f"{server.url}/health", timeout=30)
    except requests.RequestException as exc:
        raise AssertionError(f"/health did not answer: {exc}\n{server.output()}") from exc
    body = reply.json()
    assert reply.status_code == 503, body
    assert body["success"] is False and body["message"].startswith("storage"), body
    assert body["payload"]["storage"] == {"kind": "sqlite", "ready": False}, body


async def _want_during_fault(url: str) -> dict[str, Any] | None:
    """A WebSocket want while the disk fails: its first frame within 5 s (or None)."""
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(url)) as ws:
        await ws.send_str(json.dumps({"identifier": "during", "queue": QUEUE}))
        try:
            message = await ws.receive(timeout=5)
        except TimeoutError:
            return None
        frame: dict[str, Any] = json.loads(message.data)
        return frame


def _power_cycle(disk: PowerDisk, server: Server, node: Path) -> Server:
    disk.cut()
    server.kill()
    disk.power_off()
    disk.power_on()
    return launch(node, _config(disk))


@pytest.mark.parametrize(("operation", "error"), FAULTS)
def test_io_fault_refuses_changes_and_recovers_without_restart(
    tmp_path: Path, operation: str, error: str
) -> None:
    """While writes or fsyncs fail: puts (single and batch), takes, leased takes and acks
    answer 500 storage failure, a WebSocket want gets no item, /health says not ready;
    once the fault clears the same process serves again, and after a power cut exactly
    the acknowledged items are there."""
    node = tmp_path / "node"
    with power_disk(tmp_path / "disk") as disk:
        server = launch(node, _config(disk))
        try:
            with Api(server.url) as api:
                api.new_queue(QUEUE)
                before = [f"before-{i}" for i in range(10)]
                for value in before:
                    api.put(QUEUE, value)
                held = take_with(api, QUEUE, lease=60).ok()
                assert held["value"] == "before-0"

                disk.fault(operation, error)
                for i in range(3):
                    reply = api.call("POST", "/put", data={"name": QUEUE, "value": f"during-{i}"})
                    reply.error(500, "storage failure")
                batch = {"name": QUEUE, "items": [{"value": "during-batch"}]}
                api.call("POST", "/put", json_body=batch).error(500, "storage failure")
                api.take(QUEUE).error(500, "storage failure")
                take_with(api, QUEUE, lease=60).error(500, "storage failure")
                lease_call(api, "ack", QUEUE, held["id"]).error(500, "storage failure")
                frame = asyncio.run(_want_during_fault(server.url))
                # Answered with the want's identifier: a client waiting for it ends now.
                failed = {"id": "during", "status": 500}
                assert frame == {"success": False, "message": "storage failure",
                                 "payload": failed}, f"handed out: {frame}"  # fmt: skip
                _assert_not_ready(server)
                assert api.info(QUEUE)["size"] == 9  # still answering, nothing changed
                assert disk.stats()["failed"] > 0, "the fault never fired"

                disk.clear()
                assert api.call("GET", "/health").ok()["storage"]["ready"] is True
                lease_call(api, "ack", QUEUE, held["id"]).ok()
                api.put(QUEUE, "after")
                assert api.take_item(QUEUE)["value"] == "before-1"
            server = _power_cycle(disk, server, node)
            with Api(server.url) as api:
                assert api.drain(QUEUE) == [*before[2:], "after"]
        finally:
            disk.release()
            server.shutdown()


def test_stalled_disk_answers_nothing_until_it_moves(tmp_path: Path) -> None:
    """While the disk stalls a put gets no answer (so it is never acknowledged early) and
    /health answers 503; when the disk moves the put is answered, and it and everything
    before it survive a power cut."""
    node = tmp_path / "node"
    with power_disk(tmp_path / "disk") as disk:
        server = launch(node, _config(disk))
        try:
            with Api(server.url) as api, Api(server.url) as other, ThreadPoolExecutor(1) as pool:
                api.new_queue(QUEUE)
                api.put(QUEUE, "before")
                disk.stall()
                put = pool.submit(other.put, QUEUE, "stalled")
                wait_until(lambda: disk.stats()["waiting"], 10, what="the put to reach the disk")
                _assert_not_ready(server)  # the core's health timeout
                assert not put.done(), "a put was answered while the disk stalled"
                disk.clear()
                put.result(timeout=30)
                assert api.call("GET", "/health").ok()["storage"]["ready"] is True
            server = _power_cycle(disk, server, node)
            with Api(server.url) as api:
                assert api.drain(QUEUE) == ["before", "stalled"]
        finally:
            disk.release()
            server.shutdown()
