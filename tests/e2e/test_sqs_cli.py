"""Every SQS action through the real AWS CLI (PyPI's awscli), against the server."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import PYTHON, Server
from .sqs import sqs_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with sqs_server(tmp_path_factory.mktemp("sqs-cli"), "sqlite") as started:
        yield started


def aws(server: Server, *args: str, ok: bool = True) -> Any:
    """`aws --endpoint-url URL sqs ARGS --output json`: the parsed answer (None if empty)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="cli",
        AWS_SECRET_ACCESS_KEY="cli",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    cli = str(Path(PYTHON).parent / "aws")
    done = subprocess.run(
        [cli, "--endpoint-url", server.url, "--output", "json", "sqs", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    if not ok:
        assert done.returncode != 0
        return done.stderr
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_every_action_through_the_aws_cli(server: Server) -> None:
    """Queues, attributes, tags, messages one and in batches, visibility, dead-letter
    sources, purge, delete; an error shows AWS's code."""
    letters = aws(server, "create-queue", "--queue-name", "cli-dlq")["QueueUrl"]
    arn = aws(
        server, "get-queue-attributes", "--queue-url", letters, "--attribute-names", "QueueArn"
    )["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3})
    url = aws(
        server,
        "create-queue",
        "--queue-name",
        "cli-main",
        "--attributes",
        json.dumps({"RedrivePolicy": policy}),
        "--tags",
        "team=cli",
    )["QueueUrl"]
    assert aws(server, "get-queue-url", "--queue-name", "cli-main")["QueueUrl"] == url
    assert url in aws(server, "list-queues", "--queue-name-prefix", "cli-")["QueueUrls"]
    aws(server, "set-queue-attributes", "--queue-url", url, "--attributes", "VisibilityTimeout=40")
    got = aws(server, "get-queue-attributes", "--queue-url", url, "--attribute-names", "All")
    assert got["Attributes"]["VisibilityTimeout"] == "40"
    assert aws(server, "list-dead-letter-source-queues", "--queue-url", letters)["queueUrls"] == [
        url
    ]
    aws(server, "tag-queue", "--queue-url", url, "--tags", "env=test")
    aws(server, "untag-queue", "--queue-url", url, "--tag-keys", "team")
    assert aws(server, "list-queue-tags", "--queue-url", url)["Tags"] == {"env": "test"}
    sent = aws(
        server,
        "send-message",
        "--queue-url",
        url,
        "--message-body",
        "one",
        "--message-attributes",
        '{"k": {"DataType": "String", "StringValue": "v"}}',
    )
    assert sent["MD5OfMessageBody"] == "f97c5d29941bfb1b2fdab0874906ab82"
    batch = aws(
        server,
        "send-message-batch",
        "--queue-url",
        url,
        "--entries",
        json.dumps([{"Id": "a", "MessageBody": "two"}, {"Id": "b", "MessageBody": "three"}]),
    )
    assert sorted(entry["Id"] for entry in batch["Successful"]) == ["a", "b"]
    received = aws(
        server,
        "receive-message",
        "--queue-url",
        url,
        "--max-number-of-messages",
        "10",
        "--message-attribute-names",
        "All",
    )["Messages"]
    assert [m["Body"] for m in received] == ["one", "two", "three"]
    assert received[0]["MessageAttributes"]["k"]["StringValue"] == "v"
    aws(
        server,
        "change-message-visibility",
        "--queue-url",
        url,
        "--receipt-handle",
        received[0]["ReceiptHandle"],
        "--visibility-timeout",
        "0",
    )
    changed = aws(
        server,
        "change-message-visibility-batch",
        "--queue-url",
        url,
        "--entries",
        json.dumps(
            [{"Id": "x", "ReceiptHandle": received[1]["ReceiptHandle"], "VisibilityTimeout": 0}]
        ),
    )
    assert [entry["Id"] for entry in changed["Successful"]] == ["x"]
    aws(
        server,
        "delete-message",
        "--queue-url",
        url,
        "--receipt-handle",
        received[2]["ReceiptHandle"],
    )
    again = aws(server, "receive-message", "--queue-url", url, "--max-number-of-messages", "10")[
        "Messages"
    ]
    deleted = aws(
        server,
        "delete-message-batch",
        "--queue-url",
        url,
        "--entries",
        json.dumps(
            [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(again)]
        ),
    )
    assert len(deleted["Successful"]) == 2
    aws(server, "send-message", "--queue-url", url, "--message-body", "left")
    aws(server, "purge-queue", "--queue-url", url)
    assert aws(server, "receive-message", "--queue-url", url) is None
    aws(server, "delete-queue", "--queue-url", url)
    error = aws(server, "get-queue-url", "--queue-name", "cli-main", ok=False)
    assert "AWS.SimpleQueueService.NonExistentQueue" in error
