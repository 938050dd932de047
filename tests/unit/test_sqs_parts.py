"""The SQS edge's pure parts: the `sqs` section of the configuration, SigV4 verification
against botocore's own signer, the MD5 digests, the Query protocol's flattened names."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from disqueue.config import Config
from disqueue.errors import ConfigError, InvalidQueueId
from disqueue.names import QueueNames
from disqueue.server.sqs import md5, messages, protocol
from disqueue.server.sqs.errors import SqsError
from disqueue.server.sqs.sigv4 import AccessKeys, verify


def test_the_sqs_section(tmp_path: Path) -> None:
    """Defaults, checked fields, and keys required on a listener with authentication."""
    (tmp_path / "keys").write_text("AKID:secret:user\n")
    (tmp_path / "passwords").write_text("user:$plain$x\n")
    config = Config.from_dict({"servers": [{}], "sqs": {}}, base=tmp_path)
    assert config.sqs is not None
    assert (config.sqs.account, config.sqs.region, config.sqs.access_keys) == (
        "000000000000",
        "us-east-1",
        None,
    )
    assert config.names.parse("my-queue.fifo") == "my-queue.fifo"
    with pytest.raises(ConfigError, match=r"sqs.account: must be 12 digits"):
        Config.from_dict({"servers": [{}], "sqs": {"account": "12"}}, base=tmp_path)
    with pytest.raises(ConfigError, match=r"sqs.nope: unknown field"):
        Config.from_dict({"servers": [{}], "sqs": {"nope": 1}}, base=tmp_path)
    authed = {
        "servers": [{"authentication": "a"}],
        "authentication": {"a": {"type": "plaintext", "file": "passwords"}},
    }
    with pytest.raises(
        ConfigError, match=r"sqs.access_keys: required: servers\[0\] requires authentication"
    ):
        Config.from_dict({**authed, "sqs": {}}, base=tmp_path)
    keyed = Config.from_dict({**authed, "sqs": {"access_keys": "keys"}}, base=tmp_path)
    assert keyed.sqs is not None and keyed.sqs.access_keys == tmp_path / "keys"


def test_sqs_names_are_names_only_with_sqs() -> None:
    """Without `sqs` the naming policy is as before; with it SQS names pass either way."""
    with pytest.raises(InvalidQueueId):
        QueueNames("uuid").parse("orders")
    assert QueueNames("uuid", sqs=True).parse("orders") == "orders"
    assert QueueNames("uuid", sqs=True).parse("A" * 75 + ".fifo") == "A" * 75 + ".fifo"
    with pytest.raises(InvalidQueueId):
        QueueNames("uuid", sqs=True).parse("A" * 81)


def _signed(secret: str = "secret", body: bytes = b"{}", path: str = "/") -> AWSRequest:
    request = AWSRequest(
        method="POST",
        url=f"http://127.0.0.1:9324{path}",
        data=body,
        headers={
            "X-Amz-Target": "AmazonSQS.ListQueues",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    SigV4Auth(Credentials("AKID", secret), "sqs", "eu-west-1").add_auth(request)
    return request


def _verify(
    keys: AccessKeys, request: AWSRequest, body: bytes | None = None, now: float | None = None
) -> str:
    headers = {name.lower(): value for name, value in request.headers.items()}
    headers["host"] = "127.0.0.1:9324"
    path = request.url.split("9324", 1)[1]
    return verify(keys, "POST", path, "", headers, request.body if body is None else body, now)


def test_sigv4_accepts_what_botocore_signs(tmp_path: Path) -> None:
    """botocore's signature verifies, for any region and path; a changed body, a wrong
    secret or a skewed clock do not."""
    (tmp_path / "keys").write_text("# keys\nAKID:secret:alice\n")
    keys = AccessKeys(tmp_path / "keys")
    assert _verify(keys, _signed()) == "alice"
    assert _verify(keys, _signed(path="/000000000000/q%20x")) == "alice"
    with pytest.raises(SqsError) as body:
        _verify(keys, _signed(), body=b'{"x": 1}')
    assert body.value.shape == "SignatureDoesNotMatch"
    with pytest.raises(SqsError) as wrong:
        _verify(keys, _signed("other"))
    assert wrong.value.shape == "SignatureDoesNotMatch"
    with pytest.raises(SqsError) as late:
        _verify(keys, _signed(), now=time.time() + 16 * 60)
    assert late.value.shape == "SignatureDoesNotMatch"
    (tmp_path / "keys").write_text("")
    keys.reload()
    with pytest.raises(SqsError) as unknown:
        _verify(keys, _signed())
    assert unknown.value.shape == "InvalidClientTokenId"


def test_md5_digests() -> None:
    """The body's digest is its UTF-8 MD5; the attributes' digest follows AWS's encoding
    (sorted names, length-prefixed name and type, transport byte, length-prefixed value),
    checked here against a digest built by hand; none for no attributes."""
    assert md5.body_md5("héllo") == hashlib.md5("héllo".encode()).hexdigest()
    assert md5.attributes_md5({}) is None
    by_hand = hashlib.md5(
        b"\x00\x00\x00\x01a"
        + b"\x00\x00\x00\x06String"
        + b"\x01"
        + b"\x00\x00\x00\x01x"
        + b"\x00\x00\x00\x01b"
        + b"\x00\x00\x00\x06Binary"
        + b"\x02"
        + b"\x00\x00\x00\x02\x00\x01"
    ).hexdigest()
    attributes = {
        "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        "a": {"DataType": "String", "StringValue": "x"},
    }
    assert md5.attributes_md5(attributes) == by_hand


def test_attributes_round_trip_through_headers() -> None:
    """Every data type comes back from the headers as it was sent; foreign headers read
    as Strings; SQS's own facts are not attributes."""
    sent = {
        "s": {"DataType": "String.x", "StringValue": "a:b"},
        "n": {"DataType": "Number", "StringValue": "1"},
        "b": {"DataType": "Binary.y", "BinaryValue": "AAE="},
    }
    headers = messages.to_headers(sent)
    assert messages.from_headers({**headers, messages.SENT: "1", "plain": "v"}) == {
        **sent,
        "plain": {"DataType": "String", "StringValue": "v"},
    }


def test_query_forms_read_as_json_shapes() -> None:
    """Flattened Query names become the JSON protocol's lists and maps."""
    form = (
        "Action=SendMessageBatch&Version=2012-11-05&QueueUrl=u"
        "&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x"
        "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=k"
        "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String"
        "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=v"
        "&SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=y"
    )
    request = protocol.decode({}, "", form.encode())
    assert request.query and request.action == "SendMessageBatch"
    assert request.params == {
        "QueueUrl": "u",
        "Entries": [
            {
                "Id": "a",
                "MessageBody": "x",
                "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}},
            },
            {"Id": "b", "MessageBody": "y"},
        ],
    }
    attributes = protocol.decode(
        {},
        "",
        b"Action=CreateQueue&QueueName=q&Attribute.1.Name=DelaySeconds"
        b"&Attribute.1.Value=5&Tag.1.Key=t&Tag.1.Value=v",
    )
    assert attributes.params == {
        "QueueName": "q",
        "Attributes": {"DelaySeconds": "5"},
        "Tags": {"t": "v"},
    }
