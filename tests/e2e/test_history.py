"""`GET /stats?history=<seconds>` on the real server: the server's own samples of each
queue (taken once a second by its background task), the same `/stats` as before without
the parameter, the window and fields checked, and only the queues a user may read."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests import pg

from .conftest import StartServer
from .helpers import Api, Server, lease_call, take_leased, wait_until

#: How long a test waits for a sample: the sampler spaces its samples out when a
#: snapshot is slow (`runner.SAMPLER_REST`: 19x the snapshot's time), and the shared
#: PostgreSQL server holds every queue of the session; a loaded machine once took over
#: 15 s for a new queue's first sample there.
SAMPLED = 40

FIELDS = {
    "ready", "delayed", "in_flight", "consumers", "oldest_age", "put_rate", "take_rate",
    "ack_rate", "redelivery_rate", "expiry_rate", "dead_letter_rate",
}  # fmt: skip


def history(api: Api, **params: str) -> dict[str, Any]:
    payload = api.call("GET", "/stats", params=params).ok()
    assert set(payload) == plain_keys(payload) | {"history"}
    return payload["history"]  # type: ignore[no-any-return]


def plain_keys(payload: dict[str, Any]) -> set[str]:
    """The keys of a plain /stats: `nodes` too on PostgreSQL, the storage nodes share."""
    return {"time", "storage", "queues"} | (
        {"nodes"} if payload["storage"] == "postgres" else set()
    )


def ready(history: dict[str, Any], queue: str) -> list[float | None]:
    return history["queues"].get(queue, {}).get("ready", [])  # type: ignore[no-any-return]


@pytest.mark.parametrize("storage", ["memory", "postgres"])
def test_history_holds_the_depths_the_server_sampled(
    start_server: StartServer, storage: str
) -> None:
    """Depths put before a page was opened are in the history: 3 ready, later 5, with the
    put rate between; without `history` the payload is the plain /stats. (On PostgreSQL
    the node samples the shared counts, as every node does.)"""
    with contextlib.ExitStack() as stack:
        config = {"type": "memory"}
        if storage == "postgres":
            config = pg.storage(stack.enter_context(pg.fresh_schema()))
        server = stack.enter_context(_stopped(start_server({"storage": config})))
        sampled(server)


@contextlib.contextmanager
def _stopped(server: Server) -> Iterator[Server]:
    """The server, stopped before its PostgreSQL schema is dropped."""
    try:
        yield server
    finally:
        server.shutdown()


def sampled(server: Server) -> None:
    with Api(server.url) as api:
        queue, other = api.new_queue(), api.new_queue()
        for number in range(3):
            api.put(queue, f"v{number}")
        wait_until(lambda: 3 in ready(history(api, history="60", queue=queue), queue),
                   timeout=SAMPLED, what="a sample with 3 ready")  # fmt: skip
        api.put(queue, "v3")
        api.put(queue, "v4")
        got = wait_until(
            lambda: (
                (h := history(api, history="60", queue=queue)) and ready(h, queue)[-1:] == [5] and h
            ),
            timeout=SAMPLED,
            what="a sample with 5 ready",
        )
        assert got["step"] == 1
        series = got["queues"][queue]
        assert set(series) == FIELDS
        assert len(series["ready"]) == len(got["times"])
        assert got["times"] == sorted(got["times"])
        assert any(rate and rate > 0 for rate in series["put_rate"]), series["put_rate"]
        plain = api.call("GET", "/stats").ok()
        assert set(plain) == plain_keys(plain)
        assert set(plain["queues"][0]) == {
            "name", "ready", "delayed", "in_flight", "consumers", "oldest_age", "put",
            "taken", "acked", "expired", "dead_lettered", "paused", "retry_delays", "ordered",
            "redelivered",
        }  # fmt: skip
        # Every queue without `queue`; only the fields asked for with `fields`.
        both = wait_until(
            lambda: (
                (h := history(api, history="3600", fields="ready,take_rate"))["queues"].keys()
                >= {queue, other}
                and h
            ),
            timeout=SAMPLED,  # both there since the first sample, of both tiers
            what="both queues in the coarse tier",
        )
        assert both["step"] == 60
        assert set(both["queues"][queue]) == {"ready", "take_rate"}
        assert all(v is None or not math.isnan(v) for v in both["queues"][other]["ready"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"history": "0"}, "invalid parameter 'history': seconds, at most 21600"),
        ({"history": "21601"}, "invalid parameter 'history': seconds, at most 21600"),
        ({"history": "ten"}, "invalid parameter 'history': seconds, at most 21600"),
        ({"history": "nan"}, "invalid parameter 'history': seconds, at most 21600"),
        ({"history": "60", "fields": "ready,color"}, "invalid parameter 'fields': some of "
         "ready, delayed, in_flight, consumers, oldest_age, put_rate, take_rate, ack_rate, "
         "redelivery_rate, expiry_rate, dead_letter_rate"),
    ],
)  # fmt: skip
def test_history_parameters_are_checked(api: Api, params: dict[str, str], message: str) -> None:
    api.call("GET", "/stats", params=params).error(400, message)


def test_history_shows_only_the_queues_a_user_may_read(start_server: StartServer) -> None:
    config = {
        "servers": [{"authentication": "default"}],
        "queue_names": "any",
        "authentication": {"default": {
            "type": "plaintext", "file": "passwords",
            "permissions": {"ops": {"*": "rwm"}, "viewer": {"public-orders": "r"}},
        }},
    }  # fmt: skip
    server = start_server(config, files={"passwords": "ops:$plain$secret\nviewer:$plain$look\n"})
    with Api(server.url, auth=("ops", "secret")) as ops:
        ops.new_queue("public-orders")
        ops.new_queue("private-payroll")
    with Api(server.url, auth=("viewer", "look")) as viewer:
        seen = wait_until(
            lambda: history(viewer, history="30")["queues"], timeout=SAMPLED, what="a sample"
        )
        assert set(seen) == {"public-orders"}
        assert history(viewer, history="30", queue="private-payroll")["queues"] == {}


def test_redeliveries_are_counted_and_sampled(api: Api) -> None:
    """A delivery of an item delivered before (its lease released, or run out) counts in
    `redelivered` of /stats, in `disqueue_queue_redelivered_total` and in the history's
    `redelivery_rate`; first deliveries and takes without a lease do not."""
    queue = api.new_queue()
    for value in ("a", "b"):
        api.put(queue, value)
    wait_until(  # a rate is the increase since the queue's last sample: one first
        lambda: queue in history(api, history="60", queue=queue)["queues"],
        timeout=SAMPLED,
        what="a first sample of the queue",
    )
    first = take_leased(api, queue, 30)
    lease_call(api, "release", queue, None, receipt=first["receipt"]).ok()
    again = take_leased(api, queue, 30)
    assert (again["id"], again["attempts"]) == (first["id"], 2)
    api.take_item(queue)  # "b", no lease: not a redelivery

    def stats() -> dict[str, Any]:
        queues = api.call("GET", "/stats").ok()["queues"]
        return next(q for q in queues if q["name"] == queue)

    assert stats()["redelivered"] == 1
    metrics = requests.get(f"{api.base_url}/metrics", timeout=10).text
    assert f'disqueue_queue_redelivered_total{{queue="{queue}"}} 1.0' in metrics

    def sampled_rates() -> list[float]:
        series = history(api, history="60", queue=queue)["queues"].get(queue, {})
        return [rate for rate in series.get("redelivery_rate", []) if rate]

    rates = wait_until(sampled_rates, timeout=SAMPLED, what="a sample with a redelivery rate")
    assert all(rate > 0 for rate in rates)
