"""Support for the SQS tests: Disqueue servers with `"sqs"` on, boto3 clients of either
wire protocol, and `moto_server` for the differential tests.

The Query protocol: botocore ships SQS's model for the JSON protocol only. The tests
load a Query version of the same model (`query_model`): the installed one with the
protocol set to `query` and each list and map member given its flattened Query name
(`AttributeName.1`, `Attribute.1.Name`, `SendMessageBatchRequestEntry.1.Id`, ...), as AWS's
Query API reference names them. A client made from it is an ordinary boto3 client that
signs (SigV4), serializes and parses XML with botocore's own code.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore
import botocore.session
from botocore.config import Config

from tests import pg

from .helpers import PYTHON, Server, free_port, running

REGION = "us-east-1"
ACCOUNT = "000000000000"
BACKENDS = ["memory", "sqlite", "postgres"]
PROTOCOLS = ["json", "query"]

#: JSON member names of lists and maps → their flattened Query names.
_QUERY_NAMES = {
    "Attributes": "Attribute",
    "MessageAttributes": "MessageAttribute",
    "MessageSystemAttributes": "MessageSystemAttribute",
    "AttributeNames": "AttributeName",
    "MessageAttributeNames": "MessageAttributeName",
    "MessageSystemAttributeNames": "MessageSystemAttributeName",
    "Messages": "Message",
    "QueueUrls": "QueueUrl",
    "queueUrls": "QueueUrl",
    "Failed": "BatchResultErrorEntry",
    "Tags": "Tag",
    "tags": "Tag",
    "TagKeys": "TagKey",
    "StringListValues": "StringListValue",
    "BinaryListValues": "BinaryListValue",
}
#: Query codes of the modeled errors whose code is not their shape's name.
QUERY_CODES = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
    "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress",
    "QueueDeletedRecently": "AWS.SimpleQueueService.QueueDeletedRecently",
}


def _json_model() -> dict[str, Any]:
    folder = Path(botocore.__file__).parent / "data" / "sqs" / "2012-11-05"
    return json.loads(gzip.decompress((folder / "service-2.json.gz").read_bytes()))


def query_model(folder: Path) -> Path:
    """A botocore data folder whose SQS model speaks the Query protocol."""
    model = _json_model()
    shapes = model["shapes"]
    model["metadata"].update(
        protocol="query",
        protocols=["query"],
        xmlNamespace="http://queue.amazonaws.com/doc/2012-11-05/",
    )
    for name, operation in model["operations"].items():
        if "output" in operation:
            operation["output"]["resultWrapper"] = f"{name}Result"
    for shape_name, shape in list(shapes.items()):
        if shape.get("exception"):
            code = QUERY_CODES.get(shape_name, shape_name)
            shape["error"] = {"code": code, "httpStatusCode": 400, "senderFault": True}
        if shape["type"] != "structure":
            continue
        for member_name, member in shape["members"].items():
            target = shapes[member["shape"]]
            if target["type"] not in ("list", "map"):
                continue
            query_name = _QUERY_NAMES.get(member_name)
            if member_name == "Entries":
                query_name = shape_name.replace("Request", "RequestEntry")
            if member_name == "Successful":
                query_name = shape_name.replace("Result", "ResultEntry")
            if query_name is None:  # the actions Disqueue does not offer
                continue
            clone = copy.deepcopy(target)
            clone["flattened"] = True
            if clone["type"] == "list":
                clone["member"]["locationName"] = query_name
            else:
                tag = member_name.lower() == "tags"
                clone["key"]["locationName"] = "Key" if tag else "Name"
                clone["value"]["locationName"] = "Value"
            clone_name = f"{shape_name}{member_name}Query"
            shapes[clone_name] = clone
            member["shape"] = clone_name
            member["locationName"] = query_name
    target = folder / "sqs" / "2012-11-05"
    target.mkdir(parents=True, exist_ok=True)
    (target / "service-2.json").write_text(json.dumps(model))
    return folder


def client(
    url: str,
    protocol: str = "json",
    *,
    query_data: Path | None = None,
    key: str = "test",
    secret: str = "test",
    retries: int = 0,
) -> Any:
    """A boto3 SQS client of `url` speaking `protocol` (`query` needs `query_data`)."""
    session = botocore.session.get_session()
    if protocol == "query":
        assert query_data is not None
        loader = session.get_component("data_loader")
        loader.search_paths.insert(0, str(query_data))
    boto = boto3.session.Session(botocore_session=session)
    return boto.client(
        "sqs",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": retries + 1, "mode": "standard"}, read_timeout=60),
    )


def sqs_config(kind: str, schema: str | None = None, **sqs: Any) -> dict[str, Any]:
    storage: dict[str, Any] = (
        pg.storage(schema) if kind == "postgres" and schema else {"type": kind}
    )
    return {"storage": storage, "sqs": sqs, "queue_names": "uuid"}


@contextlib.contextmanager
def sqs_server(folder: Path, kind: str, **extra: Any) -> Iterator[Server]:
    """A Disqueue server with SQS on, on storage `kind`."""
    if kind == "postgres":
        with (
            pg.fresh_schema() as schema,
            running(folder, {**sqs_config(kind, schema), **extra}) as server,
        ):
            yield server
        return
    with running(folder, {**sqs_config(kind), **extra}) as server:
        yield server


@contextlib.contextmanager
def moto_server(folder: Path) -> Iterator[str]:
    """`moto_server` on a free port; its URL."""
    port = free_port()
    moto = Path(PYTHON).parent / "moto_server"
    log = (folder / "moto.log").open("wb")
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MOTO_CALL_RESET_API": "true"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client(url).list_queues()
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(
                        f"moto_server did not start: {(folder / 'moto.log').read_text()}"
                    ) from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
