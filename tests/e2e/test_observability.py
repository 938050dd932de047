"""Operations endpoints: /health without credentials, /metrics parsed with prometheus-client,
/stats, and the log lines (text and JSON, auth failures, the access log)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import websockets.sync.client
from prometheus_client.parser import text_string_to_metric_families

from .conftest import StartServer
from .helpers import Api, Server, running, ws_url

AUTH_CONFIG = {
    "servers": [{"authentication": "default"}],
    "authentication": {"default": {"type": "plaintext", "file": "passwords"}},
    "log": {"format": "json", "access": True},
}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A SQLite server whose only listener requires credentials; JSON logs, access log on."""
    config = {**AUTH_CONFIG, "storage": {"type": "sqlite", "path": "data/q.db"}}
    with running(
        tmp_path_factory.mktemp("guarded"), config, {"passwords": "ops:$plain$secret\n"}
    ) as server:
        yield server


@pytest.fixture
def ops(guarded: Server) -> Iterator[Api]:
    with Api(guarded.url, auth=("ops", "secret")) as client:
        yield client


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(server: Server) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = requests.get(f"{server.url}/metrics", auth=("ops", "secret"), timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


def test_health_needs_no_credentials(guarded: Server) -> None:
    """GET /health on an authenticated listener answers 200 without credentials, with the
    storage's kind and readiness in the envelope."""
    with Api(guarded.url) as anonymous:
        payload = anonymous.call("GET", "/health").ok()
    assert payload["status"] == "ok"
    assert payload["storage"] == {"kind": "sqlite", "ready": True}


@pytest.mark.parametrize("path", ["/metrics", "/stats", "/openapi.json", "/", "/ui"])
def test_operations_endpoints_need_credentials(guarded: Server, path: str) -> None:
    """Everything but /health stays behind the listener's authentication."""
    response = requests.get(guarded.url + path, timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="default"'
    wrong = requests.get(guarded.url + path, auth=("ops", "wrong"), timeout=10)
    assert wrong.status_code == 403


def test_metrics_show_which_queues_are_ordered_and_paused(guarded: Server, ops: Api) -> None:
    """`disqueue_queue_ordered` and `disqueue_queue_paused` are 1 or 0 per queue."""
    plain = ops.new_queue()
    ordered = ops.call("POST", "/queues", data={"ordered": "1"}).ok()
    ops.call("POST", "/pause", data={"name": ordered}).ok()
    got = scrape(guarded)
    flags = [
        (got[("disqueue_queue_ordered", frozenset({("queue", q)}))],
         got[("disqueue_queue_paused", frozenset({("queue", q)}))])
        for q in (plain, ordered)
    ]  # fmt: skip
    assert flags == [(0, 0), (1, 1)]


def test_metrics_show_depth_after_puts_and_takes(guarded: Server, ops: Api) -> None:
    """After 5 puts and 2 takes /metrics shows the queue with 3 ready, the totals, the
    request counts by route and status, and SQLite's commit times."""
    queue = ops.new_queue()
    for number in range(5):
        ops.put(queue, f"v{number}")
    ops.take_item(queue)
    ops.take_item(queue)
    ops.take(queue, key="none").error(404, "no item to take")
    got = scrape(guarded)
    label = frozenset({("queue", queue)})
    assert got[("disqueue_queue_ready", label)] == 3
    assert got[("disqueue_queue_in_flight", label)] == 0
    assert got[("disqueue_queue_put_total", label)] == 5
    assert got[("disqueue_queue_taken_total", label)] == 2
    assert got[("disqueue_queue_oldest_age_seconds", label)] >= 0
    puts = frozenset({("route", "/put"), ("method", "POST"), ("status", "200")})
    assert got[("disqueue_http_request_duration_seconds_count", puts)] >= 5
    misses = frozenset({("route", "/take"), ("method", "POST"), ("status", "404")})
    assert got[("disqueue_http_request_duration_seconds_count", misses)] >= 1
    commits = frozenset({("storage", "sqlite")})
    assert got[("disqueue_storage_commit_duration_seconds_count", commits)] >= 8
    assert got[("disqueue_storage_ready", commits)] == 1
    ops.take_item(queue)
    assert scrape(guarded)[("disqueue_queue_ready", label)] == 2


def test_metrics_count_leases_consumers_and_websockets(guarded: Server, ops: Api) -> None:
    """A leased item shows in flight, a waiting WebSocket want as a consumer, and its
    connection in the WebSocket gauge; all three go back to 0 afterwards."""
    queue = ops.new_queue()
    ops.put(queue, "job")
    item = ops.call("POST", "/take", data={"name": queue, "lease": "30"}).ok()
    label = frozenset({("queue", queue)})
    url = ws_url(guarded.url)
    with websockets.sync.client.connect(
        url, additional_headers={"Authorization": "Basic b3BzOnNlY3JldA=="}
    ) as ws:
        ws.send(json.dumps({"identifier": "w1", "queue": queue}))
        ops.wait_for_consumers(queue, 1)
        got = scrape(guarded)
        assert got[("disqueue_queue_in_flight", label)] == 1
        assert got[("disqueue_queue_consumers", label)] == 1
        assert got[("disqueue_websocket_connections", frozenset())] >= 1
    ops.call("POST", "/ack", data={"name": queue, "id": item["id"]}).ok()
    deadline = time.monotonic() + 10
    while (got := scrape(guarded))[("disqueue_websocket_connections", frozenset())] != 0:
        assert time.monotonic() < deadline, "the closed WebSocket is still counted"
        time.sleep(0.05)
    assert got[("disqueue_queue_in_flight", label)] == 0
    assert got[("disqueue_queue_consumers", label)] == 0
    assert got[("disqueue_queue_acked_total", label)] == 1


def test_stats_lists_every_queue(guarded: Server, ops: Api) -> None:
    """GET /stats: every queue with its counts and totals, in the envelope."""
    queue = ops.new_queue()
    ops.put(queue, "a")
    ops.put(queue, "b")
    ops.take_item(queue)
    payload = ops.call("GET", "/stats").ok()
    assert payload["storage"] == "sqlite"
    assert payload["time"] == pytest.approx(time.time(), abs=60)
    mine = {entry["name"]: entry for entry in payload["queues"]}[queue]
    assert mine["ready"] == 1 and mine["put"] == 2 and mine["taken"] == 1
    assert mine["delayed"] == 0 and mine["consumers"] == 0
    assert 0 <= mine["oldest_age"] < 60


def test_oldest_age_grows_and_clears(guarded: Server, ops: Api) -> None:
    """The age of the oldest ready item grows while it waits and is null once it is taken."""
    queue = ops.new_queue()
    ops.put(queue, "old")

    def age() -> float | None:
        queues = ops.call("GET", "/stats").ok()["queues"]
        value: float | None = {entry["name"]: entry for entry in queues}[queue]["oldest_age"]
        return value

    first = age()
    assert first is not None
    deadline = time.monotonic() + 10
    while (later := age()) is not None and later < first + 1.0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    ops.take_item(queue)
    assert age() is None


def json_lines(server: Server) -> list[dict[str, object]]:
    return [json.loads(line) for line in server.stderr_path.read_text().splitlines() if line]


def test_json_logs_name_the_events(start_server: StartServer) -> None:
    """With JSON logs: one object per line for start, listener, an auth failure, each
    request (access log) and shutdown."""
    server = start_server(AUTH_CONFIG, files={"passwords": "ops:$plain$secret\n"})
    requests.get(f"{server.url}/stats", auth=("ops", "nope"), timeout=10)
    requests.get(f"{server.url}/queues", auth=("ops", "secret"), timeout=10)
    assert server.stop() == 0
    lines = json_lines(server)
    messages = [str(line["message"]) for line in lines]
    assert any(m.startswith("disqueue ") and " ready (storage memory" in m for m in messages)
    assert any(m.startswith(f"listening on {server.url}") for m in messages)
    failure = next(line for line in lines if "authentication failed" in str(line["message"]))
    assert failure["level"] == "warning" and "GET /stats" in str(failure["message"])
    access = [line for line in lines if line["logger"] == "disqueue.access"]
    assert {(line["method"], line["path"], line["status"]) for line in access} >= {
        ("GET", "/stats", 403),
        ("GET", "/queues", 200),
    }
    assert messages[-2:] == ["shutting down", "stopped"]


def test_text_logs_without_access_log(start_server: StartServer, tmp_path: Path) -> None:
    """Text logs are `time LEVEL logger: message`; without `access` no request is logged."""
    server = start_server({"log": {"format": "text"}})
    with Api(server.url) as client:
        client.new_queue()
    assert server.stop() == 0
    text = server.stderr_path.read_text()
    assert " INFO disqueue.server: listening on " in text
    assert "disqueue.access" not in text and "POST /queues" not in text
