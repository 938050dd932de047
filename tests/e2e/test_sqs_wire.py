"""The SQS wire as SDKs other than boto3 see it, byte for byte: error bodies and the
`x-amzn-query-error` header (the JS SDK v3 reads the code there), XML errors of the Query
protocol, requests sent to a queue URL (as the Java SDK does), malformed requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import requests

from .helpers import Server
from .sqs import ACCOUNT, sqs_server

NS = {"sqs": "http://queue.amazonaws.com/doc/2012-11-05/"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with sqs_server(tmp_path_factory.mktemp("sqs-wire"), "memory") as started:
        yield started


def json_call(server: Server, action: str, body: Any, path: str = "/") -> requests.Response:
    return requests.post(
        server.url + path,
        json=body,
        timeout=10,
        headers={
            "X-Amz-Target": f"AmazonSQS.{action}",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )


def query_call(server: Server, form: dict[str, str], path: str = "/") -> requests.Response:
    return requests.post(server.url + path, data={"Version": "2012-11-05", **form}, timeout=10)


def test_json_errors_carry_aws_shape_and_header(server: Server) -> None:
    """`__type`, `message`, status 400 and `x-amzn-query-error: <code>;Sender`."""
    answer = json_call(server, "GetQueueUrl", {"QueueName": "missing"})
    assert answer.status_code == 400
    assert answer.headers["Content-Type"].startswith("application/x-amz-json-1.0")
    assert answer.headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    assert answer.headers["x-amzn-RequestId"]
    assert answer.json() == {
        "__type": "com.amazonaws.sqs#QueueDoesNotExist",
        "message": "The specified queue does not exist.",
    }


def test_query_errors_are_xml(server: Server) -> None:
    """An ErrorResponse with Type, Code, Message and the RequestId."""
    answer = query_call(server, {"Action": "GetQueueUrl", "QueueName": "missing"})
    assert answer.status_code == 400
    assert answer.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(answer.content)
    assert root.tag == f"{{{NS['sqs']}}}ErrorResponse"
    assert root.findtext("sqs:Error/sqs:Type", namespaces=NS) == "Sender"
    assert (
        root.findtext("sqs:Error/sqs:Code", namespaces=NS)
        == "AWS.SimpleQueueService.NonExistentQueue"
    )
    assert root.findtext("sqs:RequestId", namespaces=NS)


def test_requests_to_a_queue_url(server: Server) -> None:
    """Sent to `/<account>/<name>` without a QueueUrl, both protocols act on that queue;
    a send without attributes answers no MD5OfMessageAttributes."""
    json_call(server, "CreateQueue", {"QueueName": "at-url"})
    path = f"/{ACCOUNT}/at-url"
    sent = json_call(server, "SendMessage", {"MessageBody": "one"}, path).json()
    assert set(sent) == {"MD5OfMessageBody", "MessageId"}
    answer = query_call(server, {"Action": "SendMessage", "MessageBody": "two"}, path)
    assert answer.status_code == 200, answer.text
    root = ET.fromstring(answer.content)
    assert (
        root.findtext("sqs:SendMessageResult/sqs:MD5OfMessageBody", namespaces=NS)
        == "b8a9f715dbb64fd5c56e7783c6820a61"
    )
    assert root.findtext("sqs:ResponseMetadata/sqs:RequestId", namespaces=NS)
    got = json_call(server, "ReceiveMessage", {"MaxNumberOfMessages": 10}, path).json()
    assert [m["Body"] for m in got["Messages"]] == ["one", "two"]


@pytest.mark.parametrize(
    ("action", "body", "shape"),
    [
        ("ListQueuez", {}, "UnsupportedOperation"),
        ("StartMessageMoveTask", {"SourceArn": "x"}, "UnsupportedOperation"),
        (
            "SendMessage",
            {"QueueUrl": f"http://h/{ACCOUNT}/bad", "MessageBody": 5},
            "InvalidParameterValue",
        ),
        ("SendMessage", {"QueueUrl": f"http://h/{ACCOUNT}/bad"}, "MissingParameter"),
    ],
)
def test_bad_json_requests(server: Server, action: str, body: Any, shape: str) -> None:
    """Unknown and unoffered actions, wrong types, missing parameters: 400s of AWS's shapes."""
    json_call(server, "CreateQueue", {"QueueName": "bad"})
    answer = json_call(server, action, body)
    assert answer.status_code == 400
    assert answer.json()["__type"] == f"com.amazonaws.sqs#{shape}"


def test_a_body_that_is_not_json(server: Server) -> None:
    """A JSON-protocol body that does not parse: SerializationException."""
    answer = requests.post(
        server.url + "/",
        data=b"{nope",
        timeout=10,
        headers={
            "X-Amz-Target": "AmazonSQS.ListQueues",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    assert answer.status_code == 400
    assert answer.json()["__type"].endswith("#SerializationException")


def test_the_rest_of_the_api_is_unchanged(server: Server) -> None:
    """GET / is still the dashboard; other paths answer as before."""
    assert (
        requests.get(server.url + "/", timeout=10).headers["Content-Type"].startswith("text/html")
    )
    assert requests.post(server.url + "/nope", timeout=10).status_code == 404
