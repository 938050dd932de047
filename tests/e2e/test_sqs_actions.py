"""Every SQS action on standard queues, with real boto3 over both wire protocols (JSON
1.0 and Query), on every backend; errors as AWS documents them."""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import orjson
import pytest

from .helpers import Api, Server
from .sqs import ACCOUNT, BACKENDS, PROTOCOLS, client, query_model, sqs_server

_names = itertools.count()


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server with SQS on per backend, shared by this module's tests."""
    with sqs_server(tmp_path_factory.mktemp(f"sqs-{request.param}"), request.param) as running:
        yield running


@pytest.fixture(scope="session")
def query_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return query_model(tmp_path_factory.mktemp("query-model"))


@pytest.fixture(scope="module")
def clients() -> dict[tuple[str, str], Any]:
    return {}


@pytest.fixture(params=PROTOCOLS)
def sqs(
    request: pytest.FixtureRequest,
    server: Server,
    query_data: Path,
    clients: dict[tuple[str, str], Any],
) -> Any:
    """A boto3 client of the server, speaking one protocol."""
    key = (server.url, request.param)
    if key not in clients:
        clients[key] = client(server.url, request.param, query_data=query_data)
    return clients[key]


def fresh(prefix: str = "q") -> str:
    return f"{prefix}-{next(_names)}"


@pytest.fixture
def queue(sqs: Any) -> str:
    """A fresh standard queue's URL."""
    return str(sqs.create_queue(QueueName=fresh())["QueueUrl"])


def error_of(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    error: dict[str, Any] = caught.value.response["Error"]
    error["status"] = caught.value.response["ResponseMetadata"]["HTTPStatusCode"]
    return error


def name_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


# -- queues ------------------------------------------------------------------------------


def test_create_get_url_list_and_delete(sqs: Any, server: Server) -> None:
    """CreateQueue answers `<scheme>://<host>/<account>/<name>`; the same call again
    answers the same URL; GetQueueUrl finds it; ListQueues lists it (by prefix); after
    DeleteQueue it is gone for every action."""
    name = fresh("life")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    assert url == f"{server.url}/{ACCOUNT}/{name}"
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert sqs.list_queues(QueueNamePrefix=name)["QueueUrls"] == [url]
    sqs.delete_queue(QueueUrl=url)
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix=name)
    error = error_of(sqs.get_queue_url, QueueName=name)
    assert (error["Code"], error["status"]) == ("AWS.SimpleQueueService.NonExistentQueue", 400)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.send_message(QueueUrl=url, MessageBody="x")


def test_concurrent_creates_of_one_queue_all_succeed(sqs: Any, server: Server) -> None:
    """Workers starting together each create the queue they use: every one gets its URL
    (none a QueueNameExists), and there is one queue."""
    import threading

    name, urls = fresh("together"), []

    def create() -> None:
        mine = client(server.url)
        urls.append(
            mine.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "40"})["QueueUrl"]
        )

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(urls) == 6 and len(set(urls)) == 1
    assert sqs.list_queues(QueueNamePrefix=name)["QueueUrls"] == urls[:1]


def test_list_queues_pages(sqs: Any) -> None:
    """MaxResults pages the list; NextToken goes on where the page ended."""
    prefix = fresh("page")
    urls = sorted(sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(5))
    first = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2)
    second = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=first["NextToken"])
    third = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=second["NextToken"])
    assert first["QueueUrls"] + second["QueueUrls"] + third["QueueUrls"] == urls
    assert "NextToken" not in third
    error = error_of(sqs.list_queues, MaxResults=1001)
    assert error["Code"] == "InvalidParameterValue"


def test_create_with_other_attributes_is_refused(sqs: Any) -> None:
    """The same name with other attribute values: QueueNameExists (QueueAlreadyExists)."""
    name = fresh()
    sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "10"})
    with pytest.raises(sqs.exceptions.QueueNameExists) as caught:
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "11"})
    assert caught.value.response["Error"]["Code"] == "QueueAlreadyExists"


@pytest.mark.parametrize("name", ["", "a" * 81, "has space", "dot.name", "x.fifo"])
def test_bad_queue_names_are_refused(sqs: Any, name: str) -> None:
    """Names of 1-80 of A-Z a-z 0-9 _ -; .fifo only for FIFO queues."""
    error = error_of(sqs.create_queue, QueueName=name)
    assert error["Code"] in ("InvalidParameterValue", "MissingParameter")


def test_attributes_get_and_set(sqs: Any, queue: str) -> None:
    """GetQueueAttributes reports SQS's defaults and the counters; SetQueueAttributes
    changes them at once; unknown and read-only names are InvalidAttributeName, values
    out of range InvalidAttributeValue."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "30"
    assert attributes["MessageRetentionPeriod"] == "345600"
    assert attributes["DelaySeconds"] == "0"
    assert attributes["MaximumMessageSize"] == "1048576"
    assert attributes["QueueArn"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name_of(queue)}"
    assert attributes["ApproximateNumberOfMessages"] == "0"
    changes = {
        "VisibilityTimeout": "45",
        "DelaySeconds": "2",
        "MessageRetentionPeriod": "600",
        "MaximumMessageSize": "2048",
        "ReceiveMessageWaitTimeSeconds": "3",
    }
    sqs.set_queue_attributes(QueueUrl=queue, Attributes=changes)
    names = [*changes, "ApproximateNumberOfMessagesDelayed"]
    got = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=names)["Attributes"]
    assert got == {**changes, "ApproximateNumberOfMessagesDelayed": "0"}
    sqs.send_message(QueueUrl=queue, MessageBody="later")
    got = sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )
    assert got["Attributes"] == {"ApproximateNumberOfMessagesDelayed": "1"}
    for bad in ({"Nope": "1"}, {"QueueArn": "x"}):
        assert (
            error_of(sqs.set_queue_attributes, QueueUrl=queue, Attributes=bad)["Code"]
            == "InvalidAttributeName"
        )
    bad_value = error_of(
        sqs.set_queue_attributes, QueueUrl=queue, Attributes={"VisibilityTimeout": "43201"}
    )
    assert bad_value["Code"] == "InvalidAttributeValue"
    assert (
        error_of(sqs.get_queue_attributes, QueueUrl=queue, AttributeNames=["Nope"])["Code"]
        == "InvalidAttributeName"
    )


def test_redrive_policy_and_dead_letter_sources(sqs: Any) -> None:
    """RedrivePolicy = max_attempts + dead_letter: a message received maxReceiveCount times
    without a delete moves to the dead-letter queue; ListDeadLetterSourceQueues names the
    sources; an empty RedrivePolicy clears it."""
    letters = sqs.create_queue(QueueName=fresh("dlq"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=letters, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = orjson.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 2}).decode()
    source = sqs.create_queue(QueueName=fresh("src"), Attributes={"RedrivePolicy": policy})[
        "QueueUrl"
    ]
    reported = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["RedrivePolicy"])[
        "Attributes"
    ]
    assert orjson.loads(reported["RedrivePolicy"]) == {
        "deadLetterTargetArn": arn,
        "maxReceiveCount": 2,
    }
    assert sqs.list_dead_letter_source_queues(QueueUrl=letters)["queueUrls"] == [source]
    sqs.send_message(QueueUrl=source, MessageBody="poison")
    for count in (1, 2):
        message = sqs.receive_message(
            QueueUrl=source, AttributeNames=["ApproximateReceiveCount"], WaitTimeSeconds=5
        )["Messages"][0]
        assert message["Attributes"]["ApproximateReceiveCount"] == str(count)
        sqs.change_message_visibility(
            QueueUrl=source, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    dead = sqs.receive_message(
        QueueUrl=letters, WaitTimeSeconds=5, MessageSystemAttributeNames=["All"]
    )["Messages"][0]
    assert dead["Body"] == "poison"
    assert dead["Attributes"]["DeadLetterQueueSourceArn"].endswith(":" + name_of(source))
    sqs.set_queue_attributes(QueueUrl=source, Attributes={"RedrivePolicy": ""})
    assert sqs.list_dead_letter_source_queues(QueueUrl=letters).get("queueUrls", []) == []
    missing = policy.replace(name_of(letters), "no-such-queue")
    error = error_of(sqs.create_queue, QueueName=fresh(), Attributes={"RedrivePolicy": missing})
    assert error["Code"] == "InvalidParameterValue"


def test_tags(sqs: Any) -> None:
    """Tags given at CreateQueue, added by TagQueue, removed by UntagQueue, listed."""
    url = sqs.create_queue(QueueName=fresh(), tags={"team": "a", "env": "test"})["QueueUrl"]
    sqs.tag_queue(QueueUrl=url, Tags={"team": "b", "cost": "1"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "b", "env": "test", "cost": "1"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["env", "cost"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "b"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=url)


def test_purge_drops_messages_in_flight_too(sqs: Any, queue: str) -> None:
    """PurgeQueue empties the queue; a receipt of a purged message then changes nothing."""
    sqs.send_message_batch(
        QueueUrl=queue, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(3)]
    )
    taken = sqs.receive_message(QueueUrl=queue)["Messages"][0]
    sqs.purge_queue(QueueUrl=queue)
    counts = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert (
        counts["ApproximateNumberOfMessages"],
        counts["ApproximateNumberOfMessagesNotVisible"],
    ) == ("0", "0")
    with pytest.raises(sqs.exceptions.MessageNotInflight):
        sqs.change_message_visibility(
            QueueUrl=queue, ReceiptHandle=taken["ReceiptHandle"], VisibilityTimeout=5
        )


# -- messages ---------------------------------------------------------------------------------

ATTRIBUTES = {
    "text": {"DataType": "String", "StringValue": "héllo wörld"},
    "count": {"DataType": "Number", "StringValue": "-12.5e3"},
    "float": {"DataType": "Number.float", "StringValue": "3.25"},
    "blob": {"DataType": "Binary", "BinaryValue": bytes(range(256))},
    "gzip": {"DataType": "Binary.gzip", "BinaryValue": b"\x1f\x8b\x00"},
    "custom": {"DataType": "String.json", "StringValue": '{"a": 1}'},
}


def test_send_receive_delete_with_every_data_type(sqs: Any, queue: str) -> None:
    """Every DataType round-trips exactly (custom types and binary too); the MD5s of
    the body and the attributes are AWS's (botocore checks them too)."""
    body = "Ünïcode body \U0001f600"
    sent = sqs.send_message(QueueUrl=queue, MessageBody=body, MessageAttributes=ATTRIBUTES)
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    got = sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["All"], AttributeNames=["All"])
    (message,) = got["Messages"]
    assert message["Body"] == body
    assert message["MessageId"] == sent["MessageId"]
    assert message["MessageAttributes"] == ATTRIBUTES
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert int(message["Attributes"]["SentTimestamp"]) > 1_600_000_000_000
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])  # again: fine
    assert "Messages" not in sqs.receive_message(QueueUrl=queue)


def test_message_attribute_names_select(sqs: Any, queue: str) -> None:
    """MessageAttributeNames: none by default, exact names, `prefix.*`, `All`; no
    MD5OfMessageAttributes when none is returned."""
    attributes = {
        "a.one": ATTRIBUTES["text"],
        "a.two": ATTRIBUTES["count"],
        "b": ATTRIBUTES["blob"],
    }
    for names, expected in [
        (None, set()),
        (["b"], {"b"}),
        (["a.*"], {"a.one", "a.two"}),
        (["All"], {"a.one", "a.two", "b"}),
    ]:
        sqs.send_message(QueueUrl=queue, MessageBody="x", MessageAttributes=attributes)
        kwargs = {"MessageAttributeNames": names} if names else {}
        (message,) = sqs.receive_message(QueueUrl=queue, **kwargs)["Messages"]
        assert set(message.get("MessageAttributes", {})) == expected
        assert ("MD5OfMessageAttributes" in message) == bool(expected)
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def test_batches(sqs: Any, queue: str) -> None:
    """SendMessageBatch answers each entry's id and digest, failing bad entries alone;
    ReceiveMessage takes up to 10; DeleteMessageBatch deletes them, failing bad handles."""
    entries = [{"Id": f"e{i}", "MessageBody": f"m{i}"} for i in range(10)]
    entries[3] = {"Id": "e3", "MessageBody": ""}
    sent = sqs.send_message_batch(QueueUrl=queue, Entries=entries)
    assert sorted(s["Id"] for s in sent["Successful"]) == sorted(
        f"e{i}" for i in range(10) if i != 3
    )
    assert [(f["Id"], f["SenderFault"]) for f in sent["Failed"]] == [("e3", True)]
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in received] == [f"m{i}" for i in range(10) if i != 3]
    handles = [{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)]
    done = sqs.delete_message_batch(
        QueueUrl=queue, Entries=[*handles, {"Id": "bad", "ReceiptHandle": "nonsense"}]
    )
    assert len(done["Successful"]) == 9
    assert [(f["Id"], f["Code"]) for f in done["Failed"]] == [("bad", "ReceiptHandleIsInvalid")]
    assert "Messages" not in sqs.receive_message(QueueUrl=queue)


@pytest.mark.parametrize(
    ("entries", "shape"),
    [
        ([], "EmptyBatchRequest"),
        ([{"Id": str(i), "MessageBody": "x"} for i in range(11)], "TooManyEntriesInBatchRequest"),
        (
            [{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}],
            "BatchEntryIdsNotDistinct",
        ),
        ([{"Id": "bad id!", "MessageBody": "x"}], "InvalidBatchEntryId"),
    ],
)
def test_bad_batches_are_refused(
    sqs: Any, queue: str, entries: list[dict[str, str]], shape: str
) -> None:
    """Batch errors: their exception classes and AWS's codes."""
    with pytest.raises(getattr(sqs.exceptions, shape)) as caught:
        sqs.send_message_batch(QueueUrl=queue, Entries=entries)
    assert caught.value.response["Error"]["Code"] == f"AWS.SimpleQueueService.{shape}"


def test_visibility_timeout_lease_and_change(sqs: Any, queue: str) -> None:
    """A received message is invisible for its VisibilityTimeout; ChangeMessageVisibility
    0 makes it visible at once (with a new receipt, the old one then names nothing)."""
    sqs.send_message(QueueUrl=queue, MessageBody="v")
    first = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=600)["Messages"][0]
    assert "Messages" not in sqs.receive_message(QueueUrl=queue)
    sqs.change_message_visibility(
        QueueUrl=queue, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
    )
    second = sqs.receive_message(QueueUrl=queue, AttributeNames=["ApproximateReceiveCount"])[
        "Messages"
    ][0]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    with pytest.raises(sqs.exceptions.MessageNotInflight):
        sqs.change_message_visibility(
            QueueUrl=queue, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=10
        )
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle="garbage", VisibilityTimeout=10)
    batch = sqs.change_message_visibility_batch(
        QueueUrl=queue,
        Entries=[
            {"Id": "live", "ReceiptHandle": second["ReceiptHandle"], "VisibilityTimeout": 600},
            {"Id": "old", "ReceiptHandle": first["ReceiptHandle"], "VisibilityTimeout": 600},
        ],
    )
    assert [s["Id"] for s in batch["Successful"]] == ["live"]
    assert [(f["Id"], f["Code"]) for f in batch["Failed"]] == [
        ("old", "AWS.SimpleQueueService.MessageNotInflight")
    ]


def test_a_lease_that_runs_out_delivers_again(sqs: Any, queue: str) -> None:
    """After its VisibilityTimeout the message comes back (a long poll waits for it)."""
    sqs.send_message(QueueUrl=queue, MessageBody="again")
    sqs.receive_message(QueueUrl=queue, VisibilityTimeout=1)
    message = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=10, AttributeNames=["All"])[
        "Messages"
    ][0]
    assert (message["Body"], message["Attributes"]["ApproximateReceiveCount"]) == ("again", "2")


def test_receive_zero_visibility_leaves_it_visible(sqs: Any, queue: str) -> None:
    """VisibilityTimeout=0 on a receive: the message is visible again at once."""
    sqs.send_message(QueueUrl=queue, MessageBody="z")
    assert sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0)["Messages"][0]["Body"] == "z"
    assert sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"] == "z"


def test_long_poll_is_answered_by_a_send(sqs: Any, queue: str, server: Server) -> None:
    """WaitTimeSeconds: a receive waits for a message sent meanwhile (here by the
    Disqueue API, from another thread)."""
    import threading

    def put_later() -> None:
        with Api(server.url) as api:
            api.wait_for_consumers(name_of(queue), 1)
            api.call("POST", "/put", data={"name": name_of(queue), "value": "woke"}).ok()

    thread = threading.Thread(target=put_later)
    thread.start()
    got = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=15)
    thread.join()
    assert got["Messages"][0]["Body"] == "woke"


def test_delay_seconds(sqs: Any, queue: str) -> None:
    """DelaySeconds on a send: counted delayed, then delivered (a long poll waits)."""
    sqs.send_message(QueueUrl=queue, MessageBody="d", DelaySeconds=1)
    counts = sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )
    assert counts["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=10)["Messages"][0]["Body"] == "d"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"MaxNumberOfMessages": 11}, "InvalidParameterValue"),
        ({"MaxNumberOfMessages": 0}, "InvalidParameterValue"),
        ({"WaitTimeSeconds": 21}, "InvalidParameterValue"),
        ({"VisibilityTimeout": 43201}, "InvalidParameterValue"),
    ],
)
def test_receive_ranges(sqs: Any, queue: str, kwargs: dict[str, int], code: str) -> None:
    """ReceiveMessage's ranges: MaxNumberOfMessages 1-10, WaitTimeSeconds 0-20."""
    assert error_of(sqs.receive_message, QueueUrl=queue, **kwargs)["Code"] == code


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"MessageBody": ""}, "InvalidParameterValue"),
        ({"MessageBody": "\x00"}, "InvalidMessageContents"),
        ({"MessageBody": "x", "DelaySeconds": 901}, "InvalidParameterValue"),
        (
            {
                "MessageBody": "x",
                "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "abc"}},
            },
            "InvalidParameterValue",
        ),
        (
            {
                "MessageBody": "x",
                "MessageAttributes": {"n": {"DataType": "Float", "StringValue": "1"}},
            },
            "InvalidParameterValue",
        ),
        (
            {
                "MessageBody": "x",
                "MessageAttributes": {f"a{i}": ATTRIBUTES["text"] for i in range(11)},
            },
            "InvalidParameterValue",
        ),
        ({"MessageBody": "x", "MessageDeduplicationId": "d"}, "InvalidParameterValue"),
    ],
)
def test_bad_sends_are_refused(sqs: Any, queue: str, kwargs: dict[str, Any], code: str) -> None:
    """SendMessage's checks: a body of allowed characters, DelaySeconds 0-900, attribute
    types and values, at most 10 attributes, no FIFO parameters on a standard queue."""
    assert error_of(sqs.send_message, QueueUrl=queue, **kwargs)["Code"] == code


def test_body_over_the_queues_maximum_is_refused(sqs: Any) -> None:
    """A message over the queue's MaximumMessageSize (body and attributes) is refused."""
    url = sqs.create_queue(QueueName=fresh(), Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x" * 1024)
    error = error_of(sqs.send_message, QueueUrl=url, MessageBody="x" * 1025)
    assert error["Code"] == "InvalidParameterValue"
    assert "1024" in error["Message"]


def test_a_batch_over_1_mib_is_refused(sqs: Any, queue: str) -> None:
    """Each message may be up to the queue's maximum, the batch up to 1 MiB in all."""
    entries = [{"Id": str(i), "MessageBody": "x" * 110_000} for i in range(10)]
    with pytest.raises(sqs.exceptions.BatchRequestTooLong):
        sqs.send_message_batch(QueueUrl=queue, Entries=entries)
    assert len(sqs.send_message_batch(QueueUrl=queue, Entries=entries[:9])["Successful"]) == 9


def test_unsupported_actions(sqs: Any, queue: str) -> None:
    """Actions Disqueue does not offer: UnsupportedOperation, status 400."""
    error = error_of(
        sqs.add_permission, QueueUrl=queue, Label="l", AWSAccountIds=["1"], Actions=["SendMessage"]
    )
    assert (error["Code"], error["status"]) == ("AWS.SimpleQueueService.UnsupportedOperation", 400)


def test_a_queue_url_from_another_host_names_the_same_queue(sqs: Any, queue: str) -> None:
    """The host (and account) of a QueueUrl a client sends are not looked at."""
    other = f"https://sqs.eu-west-1.amazonaws.com/123456789012/{name_of(queue)}"
    sqs.send_message(QueueUrl=other, MessageBody="anywhere")
    assert sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"] == "anywhere"


def test_binary_attribute_bytes_are_exact(sqs: Any, queue: str) -> None:
    """Binary values: the bytes themselves (base64 on the wire in both protocols)."""
    raw = bytes(range(255, -1, -1)) * 3
    sqs.send_message(
        QueueUrl=queue,
        MessageBody="b",
        MessageAttributes={"b": {"DataType": "Binary", "BinaryValue": raw}},
    )
    got = sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["b"])["Messages"][0]
    assert got["MessageAttributes"]["b"]["BinaryValue"] == raw
    assert base64.b64encode(raw)  # the value travelled as base64 text
