"""Prometheus as it is really used, with Debian's `prometheus` package (`make test`
installs it): the alert rules of examples/prometheus pass `promtool check rules` and
their unit tests (`promtool test rules`), name only metrics the server exposes, and a
real Prometheus scraping a real server answers a queue's depth through its HTTP API.

The Prometheus started here is the test's own: a free port, a temporary configuration
and `--storage.tsdb.path` in the test's directory (never the system service)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from .conftest import StartServer
from .helpers import REPO, Api, Server, free_port, wait_until

EXAMPLES = REPO / "examples" / "prometheus"
RULES = EXAMPLES / "disqueue-rules.yml"


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found is not None, f"`{name}` is missing: `make test` installs Debian's prometheus"
    return found


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args], capture_output=True, text=True, timeout=120, cwd=EXAMPLES
    )


def test_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


def test_rules_unit_tests_pass() -> None:
    """Each alert fires when it should and not otherwise (disqueue-rules.test.yml)."""
    result = promtool("test", "rules", "disqueue-rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_example_configuration_is_valid() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_name_only_metrics_the_server_exposes(start_server: StartServer) -> None:
    """Every `disqueue_*` name in the rules is in a real scrape (a rule over a renamed
    metric would never fire, and promtool cannot know)."""
    server = start_server({"storage": {"type": "sqlite", "path": "data/q.db"}})
    with Api(server.url) as api:
        api.put(api.new_queue(), "v")
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    exposed = set(re.findall(r"^(disqueue_\w+?)(?:\{| )", text, re.MULTILINE))
    named = set(re.findall(r"\bdisqueue_\w+", RULES.read_text()))
    assert named, "no metric names found in the rules"
    assert named <= exposed, f"not exposed: {sorted(named - exposed)}"


class Prometheus:
    """A Prometheus process of the test's own, scraping `target` once a second."""

    def __init__(self, directory: Path, target: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copy(RULES, directory / RULES.name)
        config = directory / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: [{RULES.name}]\n"
            "scrape_configs:\n"
            f"  - job_name: disqueue\n    static_configs: [{{targets: ['{target}']}}]\n"
        )
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = (directory / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                tool("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address={self.url.removeprefix('http://')}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )

    def get(self, path: str, **params: str) -> Any:
        """The `data` of a Prometheus API answer, None while it cannot answer yet."""
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.process.returncode}")
        try:
            response = requests.get(self.url + path, params=params, timeout=10)
        except requests.ConnectionError:
            return None
        if response.status_code != 200:
            return None
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def prometheus_of(tmp_path: Path) -> Iterator[Any]:
    started: list[Prometheus] = []

    def start(server: Server) -> Prometheus:
        prometheus = Prometheus(tmp_path / "prometheus", server.url.removeprefix("http://"))
        started.append(prometheus)
        return prometheus

    yield start
    for prometheus in started:
        prometheus.stop()


@pytest.mark.timeout(180)
def test_real_prometheus_scrapes_a_queues_depth(
    start_server: StartServer, prometheus_of: Any
) -> None:
    """A real Prometheus scraping the server shows the queue's depth (3, then 5) through
    its own `/api/v1/query`, has loaded the alert rules, and none of them fails."""
    server = start_server({"storage": {"type": "sqlite", "path": "data/q.db"}})
    with Api(server.url) as api:
        queue = api.new_queue()
        for number in range(3):
            api.put(queue, f"v{number}")
        prometheus = prometheus_of(server)
        query = f'disqueue_queue_ready{{queue="{queue}"}}'

        def depth() -> str | None:
            data = prometheus.get("/api/v1/query", query=query)
            if not data or not data["result"]:
                return None
            return str(data["result"][0]["value"][1])

        wait_until(lambda: depth() == "3", timeout=120, interval=0.5, what="depth 3 in Prometheus")
        api.put(queue, "v3")
        api.put(queue, "v4")
        wait_until(lambda: depth() == "5", timeout=60, interval=0.5, what="depth 5 in Prometheus")
        ready = prometheus.get("/api/v1/query", query="disqueue_storage_ready")
        assert ready["result"][0]["value"][1] == "1"
        groups = wait_until(
            lambda: (data := prometheus.get("/api/v1/rules")) and data["groups"],
            timeout=60,
            what="the rules loaded",
        )
        rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
        assert set(rules) == {
            "DisqueueOldestItemTooOld", "DisqueueDeadLettersGrowing", "DisqueueConsumersGone",
            "DisqueueQueuePaused", "DisqueueStorageNotReady", "DisqueueDown",
        }  # fmt: skip
        wait_until(
            lambda: all(
                r.get("lastEvaluation", "").startswith("2")
                for g in prometheus.get("/api/v1/rules")["groups"]
                for r in g["rules"]
            ),
            timeout=60,
            what="every rule evaluated",
        )
        for group in prometheus.get("/api/v1/rules")["groups"]:
            for rule in group["rules"]:
                assert rule["health"] == "ok", rule
