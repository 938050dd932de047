"""What SQS keeps survives a restart on the durable backends: queue attributes, tags and
the redrive policy, messages with their attributes, receipts in flight, a FIFO group
held by its message in flight, and the deduplication window."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import pytest

from .conftest import StartServer
from .helpers import durable_config
from .sqs import client

ATTRIBUTES = {"kind": {"DataType": "String.t", "StringValue": "x"},
              "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"}}  # fmt: skip


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_sqs_state_survives_a_restart(start_server: StartServer, tmp_path: Path, kind: str) -> None:
    """Everything SQS set is there after a restart, as it was."""
    with contextlib.ExitStack() as stack:
        config = {**durable_config(kind, stack), "sqs": {}}
        server = start_server(config, directory=tmp_path / "node")
        sqs = client(server.url)
        letters = sqs.create_queue(QueueName="keep-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=letters, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        policy = f'{{"deadLetterTargetArn": "{arn}", "maxReceiveCount": 4}}'
        attributes = {"MaximumMessageSize": "4096", "ReceiveMessageWaitTimeSeconds": "2",
                      "VisibilityTimeout": "77", "RedrivePolicy": policy}  # fmt: skip
        url = sqs.create_queue(QueueName="keep", Attributes=attributes, tags={"team": "q"})[
            "QueueUrl"
        ]
        fifo = sqs.create_queue(QueueName="keep.fifo", Attributes={
            "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]  # fmt: skip
        sqs.send_message(QueueUrl=url, MessageBody="kept", MessageAttributes=ATTRIBUTES)
        sqs.send_message(QueueUrl=url, MessageBody="second")
        for body in ("g1", "g2"):
            sqs.send_message(QueueUrl=fifo, MessageBody=body, MessageGroupId="g")
        first = sqs.receive_message(
            QueueUrl=url, VisibilityTimeout=600, MessageAttributeNames=["All"]
        )["Messages"][0]
        held = sqs.receive_message(QueueUrl=fifo, VisibilityTimeout=600)["Messages"][0]
        before = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        server.stop(signal.SIGTERM)

        server = start_server(server.config, directory=tmp_path / "node")
        sqs = client(server.url)
        after = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert after == before
        assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "q"}
        assert "Messages" not in sqs.receive_message(QueueUrl=fifo, WaitTimeSeconds=0)  # group held
        sqs.send_message(QueueUrl=fifo, MessageBody="g1", MessageGroupId="g")  # deduplicated
        sqs.delete_message(QueueUrl=fifo, ReceiptHandle=held["ReceiptHandle"])
        assert [
            m["Body"]
            for m in sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)["Messages"]
        ] == ["g2"]
        # the receipt in flight still names its delivery: made visible, it comes back first
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
        )
        again = sqs.receive_message(
            QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"]
        )
        (message,) = again["Messages"]
        assert (message["Body"], message["MessageAttributes"]) == ("kept", ATTRIBUTES)
        assert message["Attributes"]["ApproximateReceiveCount"] == "2"
        assert message["MD5OfMessageAttributes"] == first["MD5OfMessageAttributes"]
