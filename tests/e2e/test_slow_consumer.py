"""A WebSocket consumer that stops reading while it holds a `count=1000` want."""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import Api, launch, raw_ws_client, take_with, wait_until, ws_text_frame

QUEUED = 3000
COUNT = 1000
VALUE = "x" * 4000


def test_a_consumer_that_stops_reading_holds_no_more_than_its_count(tmp_path: Path) -> None:
    """What bounds a stalled consumer is its want's count: of 3,000 queued items a
    `count=1000` leased want that is never read takes 1,000 (the outbox and socket
    buffers hold those and nothing more), the other 2,000 stay queued and go to other
    consumers, and closing the stalled connection gives its 1,000 back."""
    server = launch(tmp_path / "node", {"storage": {"type": "sqlite"}})
    try:
        with Api(server.url) as api:
            queue = api.new_queue()
            for start in range(0, QUEUED, 500):
                items = [{"value": f"{n:05d}{VALUE}"} for n in range(start, start + 500)]
                api.call("POST", "/put", json_body={"name": queue, "items": items}).ok()
            stalled = raw_ws_client(server.ports[0])
            want = {"identifier": "slow", "queue": queue, "count": COUNT, "lease": 60}
            stalled.sendall(ws_text_frame(json.dumps(want)))
            wait_until(lambda: api.info(queue)["in_flight"] == COUNT, 10, what="the want filled")
            assert api.info(queue)["size"] == QUEUED - COUNT  # no more left the queue

            other = take_with(api, queue, count=10).ok()
            assert [item["value"][:5] for item in other] == [f"{n:05d}" for n in range(1000, 1010)]
            assert api.call("GET", "/health").ok()["status"] == "ok"

            stalled.close()
            wait_until(lambda: api.info(queue)["in_flight"] == 0, 10, what="leases released")
            assert api.info(queue)["size"] == QUEUED - 10
    finally:
        server.shutdown()


def test_a_consumer_that_stops_reading_does_not_hold_producers(tmp_path: Path) -> None:
    """Puts are handed to a waiting want without a lease only while its connection
    keeps up: a consumer that stops reading with a `count=1000` want no longer holds
    every producer's put (one hung for good before); the puts are stored instead, and
    every one of them is answered."""
    server = launch(tmp_path / "node", {"storage": {"type": "sqlite"}})
    try:
        with Api(server.url) as api:
            queue = api.new_queue()
            stalled = raw_ws_client(server.ports[0])
            stalled.sendall(ws_text_frame(json.dumps({"identifier": "s", "queue": queue,
                                                      "count": COUNT})))  # fmt: skip
            wait_until(lambda: api.info(queue)["consumers"] == 1, 10, what="the want")
            for n in range(1500):
                reply = api.call("POST", "/put", data={"name": queue, "value": f"{n:05d}{VALUE}"})
                assert reply.status == 200, (n, reply.body)
            info = api.info(queue)
            assert info["put"] == 1500
            assert info["size"] > 0  # stored once the consumer fell behind
            assert api.call("GET", "/health").ok()["status"] == "ok"
            stalled.close()
    finally:
        server.shutdown()
