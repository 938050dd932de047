"""Reliable delivery across restarts of the SQLite storage (and the same rules in memory)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from .conftest import StartServer
from .helpers import (
    Api,
    create_queue,
    lease_call,
    put_item,
    take_eventually,
    take_leased,
    take_with,
)

QUEUE = "4c9d0e1f-2a3b-4c4d-9e5f-6a7b8c9d0e1f"
DEAD = "5d0e1f2a-3b4c-4d5e-8f6a-7b8c9d0e1f2a"
SQLITE = {"storage": {"type": "sqlite"}}


def test_lease_in_flight_at_a_crash_comes_back_when_it_expires(
    start_server: StartServer, tmp_path: Path
) -> None:
    """SIGKILL with a lease in flight: after restart the item is still in flight until its lease
    ends, then comes back with attempts counting on."""
    server = start_server(SQLITE, directory=tmp_path / "node")
    with Api(server.url) as api:
        api.new_queue(QUEUE)
        put_item(api, QUEUE, "crashed", key="k")
        put_item(api, QUEUE, "next")
        item = take_leased(api, QUEUE, 4)
    server.stop(signal.SIGKILL)
    server = start_server(server.config, directory=tmp_path / "node")
    with Api(server.url) as api:
        assert time.time() < item["lease_expires"] - 0.5, "restart took too long for this test"
        info = api.info(QUEUE)
        assert (info["size"], info["in_flight"]) == (1, 1)
        assert api.take_item(QUEUE)["value"] == "next"
        api.take(QUEUE).error(404, "no item to take")
        back = take_eventually(
            api, QUEUE, timeout=item["lease_expires"] - time.time() + 1.5, lease=30
        )
        assert time.time() >= item["lease_expires"] - 0.1
        assert (back["id"], back["value"], back["key"], back["attempts"]) == (
            item["id"],
            "crashed",
            "k",
            2,
        )


def test_lease_expired_during_downtime_is_back_at_start(
    start_server: StartServer, tmp_path: Path
) -> None:
    """A lease that ran out while the server was down is back in the queue right after start."""
    server = start_server(SQLITE, directory=tmp_path / "node")
    with Api(server.url) as api:
        api.new_queue(QUEUE)
        put_item(api, QUEUE, "lost worker")
        item = take_leased(api, QUEUE, 0.2)
    server.stop(signal.SIGKILL)
    time.sleep(max(0.0, item["lease_expires"] - time.time()) + 0.1)
    server = start_server(server.config, directory=tmp_path / "node")
    with Api(server.url) as api:
        back = take_eventually(api, QUEUE, timeout=1.0, lease=30)
        assert (back["id"], back["attempts"]) == (item["id"], 2)
        lease_call(api, "ack", QUEUE, item["id"]).ok()


def test_lease_survives_a_restart_and_can_be_acked(
    start_server: StartServer, tmp_path: Path
) -> None:
    """A lease in flight across a clean restart can still be acked, and the item is gone."""
    server = start_server(SQLITE, directory=tmp_path / "node")
    with Api(server.url) as api:
        api.new_queue(QUEUE)
        put_item(api, QUEUE, "finish me")
        item = take_leased(api, QUEUE, 30)
    assert server.stop() == 0
    server = start_server(server.config, directory=tmp_path / "node")
    with Api(server.url) as api:
        assert api.info(QUEUE)["in_flight"] == 1
        assert lease_call(api, "ack", QUEUE, item["id"]).ok() is None
        info = api.info(QUEUE)
        assert (info["size"], info["in_flight"]) == (0, 0)


def test_delayed_items_survive_a_restart(start_server: StartServer, tmp_path: Path) -> None:
    """A delayed item is still delayed after a restart, then becomes takeable."""
    server = start_server(SQLITE, directory=tmp_path / "node")
    with Api(server.url) as api:
        api.new_queue(QUEUE)
        put_at = time.time()
        item_id = put_item(api, QUEUE, "patient", delay=3)
        put_item(api, QUEUE, "far future", delay=3600)
    server.stop(signal.SIGKILL)
    server = start_server(server.config, directory=tmp_path / "node")
    with Api(server.url) as api:
        assert time.time() < put_at + 2.5, "restart took too long for this test"
        info = api.info(QUEUE)
        assert (info["size"], info["delayed"]) == (0, 2)
        api.take(QUEUE).error(404, "no item to take")
        item = take_eventually(api, QUEUE, timeout=put_at + 4.5 - time.time())
        assert time.time() >= put_at + 2.9
        assert (item["id"], item["value"]) == (item_id, "patient")
        api.take(QUEUE).error(404, "no item to take")


def test_queue_settings_survive_a_restart(start_server: StartServer, tmp_path: Path) -> None:
    """lease, max_attempts, dead_letter and max_items are kept across a restart, and obeyed."""
    server = start_server(SQLITE, directory=tmp_path / "node")
    with Api(server.url) as api:
        api.new_queue(DEAD)
        create_queue(api, QUEUE, lease=20, max_attempts=1, dead_letter=DEAD, max_items=2)
        put_item(api, QUEUE, "a")
    assert server.stop() == 0
    server = start_server(server.config, directory=tmp_path / "node")
    with Api(server.url) as api:
        info = api.info(QUEUE)
        assert (info["lease"], info["max_attempts"], info["dead_letter"], info["max_items"]) == (
            20,
            1,
            DEAD,
            2,
        )
        put_item(api, QUEUE, "b")
        api.call("POST", "/put", data={"name": QUEUE, "value": "c"}).error(429, "queue is full")
        item = api.take_item(QUEUE)  # the default lease applies
        assert (item["value"], item["attempts"]) == ("a", 1)
        assert abs(item["lease_expires"] - (time.time() + 20)) < 2
        lease_call(api, "release", QUEUE, item["id"]).ok()
        assert api.take_item(DEAD)["value"] == "a"


def test_dedup_survives_a_restart(start_server: StartServer, tmp_path: Path) -> None:
    """A put retried with the same dedup_id after a restart stores nothing, returns the first id."""
    server = start_server(SQLITE, directory=tmp_path / "node")
    with Api(server.url) as api:
        api.new_queue(QUEUE)
        first = put_item(api, QUEUE, "charge", dedup_id="invoice-7")
        taken = put_item(api, QUEUE, "ship", dedup_id="order-9")
        assert api.take_item(QUEUE)["value"] == "charge"
    server.stop(signal.SIGKILL)
    server = start_server(server.config, directory=tmp_path / "node")
    with Api(server.url) as api:
        assert put_item(api, QUEUE, "charge", dedup_id="invoice-7") == first
        assert put_item(api, QUEUE, "ship", dedup_id="order-9") == taken
        assert api.drain(QUEUE) == ["ship"]


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_expiry_fires_on_time_on_an_idle_server(
    start_server: StartServer, tmp_path: Path, storage: str
) -> None:
    """With no traffic at all, an expired lease is back within a second of its time."""
    server = start_server({"storage": {"type": storage}}, directory=tmp_path / "node")
    with Api(server.url) as api:
        api.new_queue(QUEUE)
        put_item(api, QUEUE, "idle")
        item = take_leased(api, QUEUE, 0.5)
        time.sleep(max(0.0, item["lease_expires"] - time.time()) + 0.5)
        info = api.info(QUEUE)
        assert (info["size"], info["in_flight"]) == (1, 0)
        assert take_with(api, QUEUE, lease=5).ok()["attempts"] == 2
