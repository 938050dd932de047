"""One queue, every API: a message sent through SQS is taken with `POST /take` and
delivered to a WebSocket consumer; an item put with `POST /put` is received through SQS
(on every backend). And the README's SQS examples (boto3, the AWS CLI) run as written."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .helpers import PYTHON, REPO, Api, Server, recv_delivery, send_want, ws_url
from .sqs import BACKENDS, client, sqs_server

README_URL = "http://127.0.0.1:3682"


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with sqs_server(tmp_path_factory.mktemp(f"cross-{request.param}"), request.param) as started:
        yield started


@pytest.fixture
def sqs(server: Server) -> Any:
    return client(server.url)


def test_sqs_send_then_http_take(sqs: Any, server: Server) -> None:
    """The body is the value; the attributes are typed headers; SQS's own facts are
    `sqs:` headers."""
    url = sqs.create_queue(QueueName="cross-take")["QueueUrl"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody="from sqs",
        MessageAttributes={"trace": {"DataType": "String", "StringValue": "t-1"}},
    )
    with Api(server.url) as api:
        item = api.call("POST", "/take", data={"name": "cross-take"}).ok()
    assert item["value"] == "from sqs"
    assert item["headers"]["trace"] == "String:t-1"
    assert "sqs:sent" in item["headers"]


async def test_sqs_send_reaches_a_websocket_consumer(
    sqs: Any, server: Server, http: aiohttp.ClientSession
) -> None:
    """A consumer waiting on the WebSocket gets the message SQS sends."""
    url = sqs.create_queue(QueueName="cross-ws")["QueueUrl"]
    async with http.ws_connect(ws_url(server.url)) as ws:
        await send_want(ws, "w1", "cross-ws")
        with Api(server.url) as api:
            await asyncio.to_thread(api.wait_for_consumers, "cross-ws", 1)
        await asyncio.to_thread(sqs.send_message, QueueUrl=url, MessageBody="pushed")
        identifier, item = await recv_delivery(ws)
    assert (identifier, item["value"]) == ("w1", "pushed")


def test_http_put_then_sqs_receive(sqs: Any, server: Server) -> None:
    """An item of the Disqueue API is a message: headers read as String attributes, a
    key is not a group on a standard queue; a leased take's receipt is its handle."""
    with Api(server.url) as api:
        api.call("POST", "/queues", data={"name": "cross-put"}).ok()
        body = {"name": "cross-put", "value": "from http", "key": "k", "headers": {"h": "v"}}
        api.call("POST", "/put", json_body=body).ok()
    url = sqs.get_queue_url(QueueName="cross-put")["QueueUrl"]
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"][0]
    assert got["Body"] == "from http"
    assert got["MessageAttributes"] == {"h": {"DataType": "String", "StringValue": "v"}}
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got["ReceiptHandle"])
    with Api(server.url) as api:
        assert api.info("cross-put")["acked"] == 1


# -- the README ------------------------------------------------------------------------------


def _section() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    return readme.split("\n## Using it from SQS code\n", 1)[1].split("\n## ", 1)[0]


def _aws_env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {
        **clean,
        "PATH": f"{Path(PYTHON).parent}:{clean.get('PATH', '')}",
        "HOME": clean.get("HOME", "/tmp"),
    }


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)  # the default storage, once
def test_readme_boto3_example(server: Server, tmp_path: Path) -> None:
    """The boto3 example prints what its `# -> ...` comments say."""
    (example,) = re.findall(r"```python\n(.*?)```", _section(), flags=re.DOTALL)
    assert README_URL in example
    script = tmp_path / "example.py"
    script.write_text(example.replace(README_URL, server.url))
    done = subprocess.run(
        [PYTHON, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_aws_env(),
    )
    assert done.returncode == 0, done.stderr
    for line in re.findall(r"print\(.*\)  # -> (.*)", example):
        assert line in done.stdout.splitlines(), (line, done.stdout)


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)  # the default storage, once
def test_readme_aws_cli_example(server: Server, tmp_path: Path) -> None:
    """The AWS CLI example (the real `aws` of PyPI's awscli) prints `hello`."""
    (example,) = re.findall(r"```sh\n(.*?)```", _section(), flags=re.DOTALL)
    assert README_URL in example
    script = tmp_path / "example.sh"
    script.write_text("set -e\n" + example.replace(README_URL, server.url))
    done = subprocess.run(
        ["bash", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=_aws_env(),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "hello", done.stdout
    assert "-> hello" in example
