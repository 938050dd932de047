"""Size and count limits: value, key, body and queue count; defaults and configured."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from .conftest import StartServer
from .helpers import Api, Server, running

MiB = 1024 * 1024
KiB = 1024

SMALL = {"max_value_bytes": 100, "max_key_bytes": 10, "max_body_bytes": 1000}


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with small configured size limits."""
    with running(tmp_path_factory.mktemp("limits"), {"limits": SMALL}) as server:
        yield server


@pytest.fixture
def small(small_server: Server) -> Iterator[Api]:
    with Api(small_server.url) as client:
        yield client


def test_value_at_limit_accepted(small: Api) -> None:
    """A value of exactly max_value_bytes is stored."""
    name = small.new_queue()
    small.put(name, "v" * 100)
    assert small.take_item(name)["value"] == "v" * 100


def test_value_over_limit_refused(small: Api) -> None:
    """A value one byte over max_value_bytes → 413 value too large, nothing stored."""
    name = small.new_queue()
    small.call("POST", "/put", data={"name": name, "value": "v" * 101}).error(
        413, "value too large"
    )
    assert small.info(name)["size"] == 0


def test_value_limit_counts_utf8_bytes(small: Api) -> None:
    """The value limit counts UTF-8 bytes, not characters."""
    name = small.new_queue()
    small.put(name, "é" * 50)  # 100 bytes
    small.call("POST", "/put", data={"name": name, "value": "é" * 51}).error(
        413, "value too large"
    )  # 51 characters, 102 bytes
    assert small.drain(name) == ["é" * 50]


def test_key_at_limit_accepted(small: Api) -> None:
    """A key of exactly max_key_bytes is stored."""
    name = small.new_queue()
    small.put(name, "v", key="k" * 10)
    assert small.take_item(name, key="K" * 10)["key"] == "k" * 10


def test_key_over_limit_refused(small: Api) -> None:
    """A key one byte over max_key_bytes → 413 key too large, nothing stored."""
    name = small.new_queue()
    small.call("POST", "/put", data={"name": name, "value": "v", "key": "k" * 11}).error(
        413, "key too large"
    )
    small.call("POST", "/put", data={"name": name, "value": "v", "key": "ü" * 6}).error(
        413, "key too large"
    )  # 6 characters, 12 bytes
    assert small.info(name)["size"] == 0


def test_value_over_limit_in_query_string(small: Api) -> None:
    """The value limit applies to a value sent in the query string too."""
    name = small.new_queue()
    small.call("POST", "/put", params={"name": name, "value": "v" * 101}).error(
        413, "value too large"
    )
    small.call("POST", "/put", params={"name": name, "value": "v", "key": "k" * 11}).error(
        413, "key too large"
    )
    assert small.info(name)["size"] == 0


def test_value_over_limit_in_json(small: Api) -> None:
    """The value and key limits apply to a JSON body."""
    name = small.new_queue()
    small.call("POST", "/put", json_body={"name": name, "value": "v" * 101}).error(
        413, "value too large"
    )
    small.call("POST", "/put", json_body={"name": name, "value": "v", "key": "k" * 11}).error(
        413, "key too large"
    )
    assert small.info(name)["size"] == 0


def test_expect_continue_body_over_limit(small_server: Server, small: Api) -> None:
    """curl with `Expect: 100-continue` and a body over the limit gets 413 in the envelope."""
    curl = shutil.which("curl")
    assert curl, "curl is needed for this test"
    name = small.new_queue()
    result = subprocess.run(
        [
            curl,
            "-s",
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            f"name={name}&value=v&pad=" + "x" * 2000,
            "-w",
            "\n%{http_code}",
            f"{small_server.url}/put",
        ],
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "413"
    assert json.loads(body) == {
        "success": False,
        "message": "request body too large",
        "payload": None,
    }
    assert small.info(name)["size"] == 0


def test_body_over_limit_refused(small: Api) -> None:
    """A body over max_body_bytes → 413 request body too large, nothing stored."""
    name = small.new_queue()
    padding = "x" * 1000
    small.call("POST", "/put", data={"name": name, "value": "v", "pad": padding}).error(
        413, "request body too large"
    )
    assert small.info(name)["size"] == 0


def test_json_body_over_limit_refused(small: Api) -> None:
    """A JSON body over max_body_bytes → 413 request body too large."""
    name = small.new_queue()
    body = {"name": name, "value": "v", "pad": "x" * 1000}
    small.call("POST", "/put", json_body=body).error(413, "request body too large")
    assert small.info(name)["size"] == 0


def test_chunked_body_over_limit_refused(small: Api) -> None:
    """A chunked body (no Content-Length) over max_body_bytes → 413 request body too large."""
    name = small.new_queue()

    def chunks() -> Iterator[bytes]:
        yield f"name={name}&value=v&pad=".encode()
        for _ in range(20):
            yield b"x" * 100

    reply = small.call(
        "POST",
        "/put",
        data=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    reply.error(413, "request body too large")
    assert small.info(name)["size"] == 0


def test_body_under_limit_accepted(small: Api) -> None:
    """A body just under max_body_bytes, with in-limit fields, is accepted."""
    name = small.new_queue()
    small.call("POST", "/put", data={"name": name, "value": "v", "pad": "x" * 900}).ok()
    assert small.take_item(name)["value"] == "v"


# ------------------------------------------------------------ defaults


def test_default_value_limit(api: Api, queue: str) -> None:
    """By default a 1 MiB value is stored and 1 MiB + 1 byte → 413 value too large."""
    api.put(queue, "a" * MiB)
    api.call("POST", "/put", data={"name": queue, "value": "a" * (MiB + 1)}).error(
        413, "value too large"
    )
    assert api.drain(queue) == ["a" * MiB]


def test_default_key_limit(api: Api, queue: str) -> None:
    """By default a 1 KiB key is stored and 1 KiB + 1 byte → 413 key too large."""
    api.put(queue, "v", key="k" * KiB)
    api.call("POST", "/put", data={"name": queue, "value": "v", "key": "k" * (KiB + 1)}).error(
        413, "key too large"
    )
    assert api.take_item(queue)["key"] == "k" * KiB
    assert api.info(queue)["size"] == 0


def test_default_body_limit(api: Api, queue: str) -> None:
    """By default a body over 16 MiB → 413 request body too large."""
    body = f"name={queue}&value=v&pad=".encode() + b"x" * (16 * MiB)
    api.call(
        "POST",
        "/put",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).error(413, "request body too large")
    assert api.info(queue)["size"] == 0


def test_default_body_limit_allows_big_bodies(api: Api, queue: str) -> None:
    """By default a 4 MiB body (with in-limit fields) is accepted."""
    api.call("POST", "/put", data={"name": queue, "value": "v", "pad": "x" * (4 * MiB)}).ok()
    assert api.take_item(queue)["value"] == "v"


# ------------------------------------------------------------ queue count


def test_max_queues(start_server: StartServer) -> None:
    """Past max_queues, creating a new queue → 429 too many queues; nothing is created."""
    server = start_server({"limits": {"max_queues": 2}})
    with Api(server.url) as client:
        first = client.new_queue()
        second = client.new_queue(str(uuid.uuid4()))
        client.call("POST", "/queues").error(429, "too many queues")
        extra = str(uuid.uuid4())
        client.call("POST", "/queues", data={"name": extra}).error(429, "too many queues")
        assert client.queues() == [first, second]


def test_max_queues_existing_name_still_returned(start_server: StartServer) -> None:
    """At max_queues, creating an existing name still returns it (it creates nothing)."""
    server = start_server({"limits": {"max_queues": 1}})
    with Api(server.url) as client:
        name = client.new_queue()
        assert client.new_queue(name.upper()) == name
        assert client.queues() == [name]


def test_max_queues_frees_on_delete(start_server: StartServer) -> None:
    """Deleting a queue makes room under max_queues again."""
    server = start_server({"limits": {"max_queues": 1}})
    with Api(server.url) as client:
        name = client.new_queue()
        client.call("POST", "/queues").error(429, "too many queues")
        client.call("DELETE", "/queue", data={"name": name}).ok()
        again = client.new_queue()
        assert client.queues() == [again]
