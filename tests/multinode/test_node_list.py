"""The nodes sharing a PostgreSQL schema, as `GET /stats` lists them (the dashboard's
overview): every node lists every live one and marks itself; a node stopped cleanly
leaves the list; embedded storage lists none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..e2e.helpers import Api, Server, running, wait_until


def listed(api: Api) -> list[dict[str, Any]]:
    nodes = api.call("GET", "/stats").ok()["nodes"]
    assert isinstance(nodes, list)
    return nodes


def test_each_node_lists_both_and_marks_itself(nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    pids = {a.proc.pid, b.proc.pid}
    with Api(a.url) as api_a, Api(b.url) as api_b:
        for api, server in ((api_a, a), (api_b, b)):
            seen = wait_until(lambda api=api: (n := listed(api)) and len(n) == 2 and n,
                              timeout=15, what="both nodes listed")  # fmt: skip
            assert {node["pid"] for node in seen} == pids
            assert [node["pid"] for node in seen if node["this"]] == [server.proc.pid]
            for node in seen:
                assert set(node) == {"id", "host", "pid", "started", "last_seen", "this"}
                assert node["host"] and node["started"] <= node["last_seen"]
            # /health answers without credentials: it does not tell who the nodes are.
            assert "nodes" not in api.call("GET", "/health").ok()
        assert len({node["id"] for node in listed(api_a)}) == 2
        b.shutdown()
        alone = wait_until(lambda: (n := listed(api_a)) and len(n) == 1 and n,
                           timeout=15, what="only node A listed after B stopped")  # fmt: skip
        assert [(node["pid"], node["this"]) for node in alone] == [(a.proc.pid, True)]


def test_embedded_stats_has_no_nodes(tmp_path: Path) -> None:
    with running(tmp_path, {"storage": {"type": "memory"}}) as server, Api(server.url) as api:
        assert set(api.call("GET", "/stats").ok()) == {"time", "storage", "queues"}
