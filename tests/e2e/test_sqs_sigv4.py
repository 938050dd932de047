"""SigV4 on a listener with authentication: requests signed with a key of
`"sqs": {"access_keys": FILE}` pass, with the key's user's permissions; a wrong secret,
an unknown key, a missing signature or a skewed clock get AWS's errors, and count as
failed logins."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.auth
import botocore.exceptions
import pytest
import requests
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .helpers import Server, running
from .sqs import client, query_model

KEYS = """\
# the tests' access keys
AKIDADMIN:admin-secret:admin
AKIDREADER:reader-secret:reader
"""
CONFIG = {
    "servers": [{"authentication": "default"}],
    "authentication": {
        "default": {
            "type": "plaintext",
            "file": "passwords",
            "permissions": {"admin": {"*": "rwm"}, "reader": {"*": "r"}},
        }
    },
    "storage": {"type": "memory"},
    "sqs": {"access_keys": "keys"},
    "limits": {"max_failed_logins": 1_000_000},
}
PASSWORDS = "admin:$plain$a\nreader:$plain$r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("sigv4")
    with running(folder, CONFIG, {"passwords": PASSWORDS, "keys": KEYS}) as started:
        yield started


@pytest.fixture(scope="module")
def query_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return query_model(tmp_path_factory.mktemp("query-model"))


@pytest.fixture(scope="module", params=["json", "query"])
def admin(request: pytest.FixtureRequest, server: Server, query_data: Path) -> Any:
    return client(
        server.url, request.param, query_data=query_data, key="AKIDADMIN", secret="admin-secret"
    )


@pytest.fixture(scope="module")
def queue(admin: Any) -> str:
    return str(admin.create_queue(QueueName=f"signed-{id(admin)}")["QueueUrl"])


def refusal(call: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_a_correct_key_is_let_in(admin: Any, queue: str) -> None:
    """Signed with a known key and its secret, every action works."""
    admin.send_message(QueueUrl=queue, MessageBody="signed")
    (message,) = admin.receive_message(QueueUrl=queue)["Messages"]
    assert message["Body"] == "signed"
    admin.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_a_wrong_secret_is_refused(server: Server, query_data: Path, protocol: str) -> None:
    wrong = client(server.url, protocol, query_data=query_data, key="AKIDADMIN", secret="guess")
    assert refusal(wrong.list_queues) == ("SignatureDoesNotMatch", 403)


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_an_unknown_key_is_refused(server: Server, query_data: Path, protocol: str) -> None:
    stranger = client(server.url, protocol, query_data=query_data, key="AKIDNOBODY", secret="x")
    assert refusal(stranger.list_queues) == ("InvalidClientTokenId", 403)


def test_a_skewed_clock_is_refused(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request signed 20 minutes ago (a replay, or a wrong clock) is refused."""
    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda: real() - datetime.timedelta(minutes=20)
    )
    late = client(server.url, key="AKIDADMIN", secret="admin-secret")
    code, status = refusal(late.list_queues)
    assert (code, status) == ("SignatureDoesNotMatch", 403)


def test_an_unsigned_request_is_refused(server: Server) -> None:
    """No signature: InvalidClientTokenId, with the x-amzn-query-error header SDKs read."""
    answer = requests.post(
        server.url + "/",
        data=b"{}",
        timeout=10,
        headers={
            "X-Amz-Target": "AmazonSQS.ListQueues",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    assert answer.status_code == 403
    assert answer.headers["x-amzn-query-error"] == "InvalidClientTokenId;Sender"
    assert answer.json()["__type"].endswith("#InvalidClientTokenId")
    form = requests.post(server.url + "/", data={"Action": "ListQueues"}, timeout=10)
    assert form.status_code == 403
    assert "<Code>InvalidClientTokenId</Code>" in form.text


def test_the_keys_user_permissions_apply(
    server: Server, query_data: Path, admin: Any, queue: str
) -> None:
    """The reader may receive but not send, create or purge (AccessDenied, 403)."""
    reader = client(server.url, key="AKIDREADER", secret="reader-secret")
    assert "Messages" not in reader.receive_message(QueueUrl=queue)
    assert refusal(reader.send_message, QueueUrl=queue, MessageBody="x") == ("AccessDenied", 403)
    assert refusal(reader.create_queue, QueueName="readers-own") == ("AccessDenied", 403)
    assert refusal(reader.purge_queue, QueueUrl=queue) == ("AccessDenied", 403)


def test_failed_signatures_count_as_failed_logins(tmp_path: Path) -> None:
    """Past `max_failed_logins` failures from one address, even the right key waits."""
    config = {**CONFIG, "limits": {"max_failed_logins": 3, "failed_login_window": 60}}
    with running(tmp_path, config, {"passwords": PASSWORDS, "keys": KEYS}) as started:
        wrong = client(started.url, key="AKIDADMIN", secret="guess")
        for _ in range(3):
            assert refusal(wrong.list_queues)[0] == "SignatureDoesNotMatch"
        right = client(started.url, key="AKIDADMIN", secret="admin-secret")
        code, status = refusal(right.list_queues)
        assert (code, status) == ("RequestThrottled", 400)


def test_without_authentication_any_credentials_do(tmp_path: Path) -> None:
    """On an open listener any key and secret are accepted."""
    with running(tmp_path, {"storage": {"type": "memory"}, "sqs": {}}) as started:
        anyone = client(started.url, key="whatever", secret="whatever")
        assert anyone.create_queue(QueueName="open")["QueueUrl"].endswith("/open")


def test_a_signature_that_leaves_the_body_out_is_refused(server: Server) -> None:
    """`X-Amz-Content-SHA256: UNSIGNED-PAYLOAD` (an S3 option, which SQS's SDKs never
    send) would let the body be changed under a valid signature: it is refused."""

    class Unsigned(botocore.auth.SigV4Auth):
        def payload(self, request: AWSRequest) -> str:
            return "UNSIGNED-PAYLOAD"

    body = b"{}"
    request = AWSRequest(
        "POST",
        server.url + "/",
        data=body,
        headers={
            "X-Amz-Target": "AmazonSQS.ListQueues",
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",
        },
    )
    Unsigned(Credentials("AKIDADMIN", "admin-secret"), "sqs", "us-east-1").add_auth(request)
    answer = requests.post(server.url + "/", data=body, headers=dict(request.headers), timeout=10)
    assert answer.status_code == 403, answer.text
    assert answer.json()["__type"].endswith("#SignatureDoesNotMatch")
