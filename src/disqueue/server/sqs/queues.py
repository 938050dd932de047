"""Queue attributes: SQS's names and ranges over the core's queue settings.

VisibilityTimeout = `lease`, DelaySeconds = `delay`, MessageRetentionPeriod = `ttl`,
RedrivePolicy = `max_attempts` + `dead_letter`, FifoQueue = `ordered` (MessageGroupId is
the key). The attributes the core has no rule for (MaximumMessageSize,
ReceiveMessageWaitTimeSeconds, ContentBasedDeduplication, Policy, ...) and the queue's
tags are kept with the queue, as its settings' `extras` (JSON text), so they live and
change like the rest of its settings, on every node and across restarts.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

from disqueue.models import QueueSettings
from disqueue.names import SQS_NAME
from disqueue.server.sqs.errors import SqsError, invalid

DEFAULT_VISIBILITY = 30
DEFAULT_RETENTION = 345_600
DEFAULT_MAX_SIZE = 1_048_576
MAX_TAGS = 50

#: Attributes that are numbers: (lowest, highest).
_RANGES = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, 1_048_576),
    "MessageRetentionPeriod": (60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43_200),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400),
}
_BOOLEANS = {"SqsManagedSseEnabled", "ContentBasedDeduplication", "FifoQueue"}
_CHOICES = {
    "DeduplicationScope": ("messageGroup", "queue"),
    "FifoThroughputLimit": ("perQueue", "perMessageGroupId"),
}
_TEXTS = {"Policy", "KmsMasterKeyId", "RedriveAllowPolicy"}
_FIFO_ONLY = {"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
#: Attributes that may be set; those kept as extras are the ones with no core setting.
SETTABLE = {*_RANGES, *_BOOLEANS, *_CHOICES, *_TEXTS, "RedrivePolicy"}
_CORE = {"DelaySeconds", "MessageRetentionPeriod", "VisibilityTimeout", "RedrivePolicy"}
READ_ONLY = {
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
}
_ARN = re.compile(r"arn:aws[a-z-]*:sqs:([a-z0-9-]*):([0-9]*):(.+)")


@dataclass(frozen=True, slots=True)
class Extras:
    """What the queue keeps beyond the core's settings."""

    attributes: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: QueueSettings) -> Extras:
        if not settings.extras:
            return cls()
        data = orjson.loads(settings.extras)
        return cls(dict(data.get("attributes", {})), dict(data.get("tags", {})))

    def text(self) -> str | None:
        if not self.attributes and not self.tags:
            return None
        data = {"attributes": self.attributes, "tags": self.tags}
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()


def arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{account}:{name}"


def name_of_arn(text: str) -> str | None:
    match = _ARN.fullmatch(text)
    return match.group(3) if match else None


def check_name(name: Any, fifo: bool) -> str:
    if not isinstance(name, str) or not name:
        raise SqsError("MissingParameter", "The request must contain the parameter QueueName.")
    if not SQS_NAME.fullmatch(name) or fifo != name.endswith(".fifo"):
        raise invalid(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to "
            "80 in length" + (" and must end with .fifo" if fifo else "")
        )
    return name


def _number(name: str, value: str) -> int:
    low, high = _RANGES[name]
    if not re.fullmatch(r"-?\d{1,10}", value) or not low <= int(value) <= high:
        raise SqsError("InvalidAttributeValue", f"Invalid value for the parameter {name}.")
    return int(value)


def _normal(name: str, value: Any) -> str:
    """An attribute's value as the queue reports it (checked)."""
    if not isinstance(value, str):
        raise SqsError("InvalidAttributeValue", f"Invalid value for the parameter {name}.")
    if name in _RANGES:
        return str(_number(name, value))
    if name in _BOOLEANS:
        if value.lower() not in ("true", "false"):
            raise SqsError("InvalidAttributeValue", f"Invalid value for the parameter {name}.")
        return value.lower()
    if name in _CHOICES and value not in _CHOICES[name]:
        raise SqsError("InvalidAttributeValue", f"Invalid value for the parameter {name}.")
    return value


def _redrive(value: str) -> tuple[int | None, str | None]:
    """(max_attempts, dead_letter) of a RedrivePolicy ("" clears it)."""
    if value == "":
        return None, None
    invalid_policy = SqsError(
        "InvalidParameterValue",
        f"Value {value} for parameter "
        "RedrivePolicy is invalid. Reason: Redrive policy is not a "
        "valid JSON map.",
    )
    try:
        policy = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise invalid_policy from None
    if not isinstance(policy, dict):
        raise invalid_policy
    target = policy.get("deadLetterTargetArn")
    count = policy.get("maxReceiveCount")
    if isinstance(count, str) and count.isdigit():
        count = int(count)
    letters = name_of_arn(target) if isinstance(target, str) else None
    if letters is None or not isinstance(count, int) or not 1 <= count <= 1000:
        raise SqsError(
            "InvalidParameterValue",
            f"Value {value} for parameter RedrivePolicy "
            "is invalid. Reason: Redrive policy does not contain mandatory "
            "attribute: deadLetterTargetArn and maxReceiveCount (1 to 1000).",
        )
    return count, letters


def apply(settings: QueueSettings, attributes: Any, fifo: bool) -> QueueSettings:
    """`settings` with `attributes` (a request's) set; SQS's errors for bad ones."""
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        raise invalid("Attributes must be a map.")
    extras = Extras.of(settings)
    kept = dict(extras.attributes)
    changes: dict[str, Any] = {}
    for name, raw in attributes.items():
        if name not in SETTABLE or (name in _FIFO_ONLY and not fifo):
            raise SqsError("InvalidAttributeName", f"Unknown Attribute {name}.")
        value = _normal(name, raw) if name != "RedrivePolicy" else str(raw)
        if name == "FifoQueue":
            if value != "true":
                raise SqsError(
                    "InvalidAttributeValue", "Invalid value for the parameter FifoQueue."
                )
            continue
        if name == "DelaySeconds":
            changes["delay"] = float(value) if int(value) else None
        elif name == "MessageRetentionPeriod":
            changes["ttl"] = float(value)
        elif name == "VisibilityTimeout":
            # A lease of 0 is no lease in the core: SQS's 0 lives with the extras, and
            # receives release at once what they took (actions.py).
            changes["lease"] = float(value) if int(value) else float(DEFAULT_VISIBILITY)
            kept.pop(name, None)
            if not int(value):
                kept[name] = "0"
        elif name == "RedrivePolicy":  # reported from the core's settings
            changes["max_attempts"], changes["dead_letter"] = _redrive(value)
        else:
            kept[name] = value
    kept["LastModifiedTimestamp"] = str(int(time.time()))
    changes["extras"] = replace(extras, attributes=kept).text()
    return replace(settings, **changes)


def created(attributes: Any, fifo: bool) -> QueueSettings:
    """The settings of a queue CreateQueue makes: SQS's defaults, then `attributes`."""
    base = QueueSettings(lease=float(DEFAULT_VISIBILITY), ttl=float(DEFAULT_RETENTION))
    settings = apply(base, attributes, fifo)
    if fifo:
        extras = Extras.of(settings)
        attrs = {
            "FifoQueue": "true",
            "ContentBasedDeduplication": "false",
            "DeduplicationScope": "queue",
            "FifoThroughputLimit": "perQueue",
            **extras.attributes,
        }
        settings = replace(settings, ordered=True, extras=replace(extras, attributes=attrs).text())
    return settings


def report(
    info: dict[str, Any], settings: QueueSettings, name: str, region: str, account: str
) -> dict[str, str]:
    """Every attribute of the queue, as GetQueueAttributes answers them."""
    extras = Extras.of(settings).attributes
    created_at = int(_timestamp(info["created"]))

    def seconds(value: float | None, default: int) -> str:
        return str(round(value)) if value is not None else str(default)

    attributes = {
        "ApproximateNumberOfMessages": str(info["size"]),
        "ApproximateNumberOfMessagesNotVisible": str(info["in_flight"]),
        "ApproximateNumberOfMessagesDelayed": str(info["delayed"]),
        "CreatedTimestamp": str(created_at),
        "LastModifiedTimestamp": extras.get("LastModifiedTimestamp", str(created_at)),
        "DelaySeconds": seconds(settings.delay, 0),
        "MaximumMessageSize": extras.get("MaximumMessageSize", str(DEFAULT_MAX_SIZE)),
        # A queue made by the other API without a ttl keeps its messages for good: SQS
        # can say no more than its longest retention.
        "MessageRetentionPeriod": seconds(settings.ttl, 1_209_600),
        "QueueArn": arn(region, account, name),
        "ReceiveMessageWaitTimeSeconds": extras.get("ReceiveMessageWaitTimeSeconds", "0"),
        "VisibilityTimeout": extras.get(
            "VisibilityTimeout", seconds(settings.lease, DEFAULT_VISIBILITY)
        ),
        # AWS encrypts new queues with SSE-SQS unless told not to (since October 2022).
        "SqsManagedSseEnabled": extras.get("SqsManagedSseEnabled", "true"),
    }
    for name in (
        "Policy",
        "RedriveAllowPolicy",
        "KmsMasterKeyId",
        "KmsDataKeyReusePeriodSeconds",
        *_FIFO_ONLY,
    ):
        if name in extras:
            attributes[name] = extras[name]
    if settings.dead_letter is not None and settings.max_attempts is not None:
        attributes["RedrivePolicy"] = orjson.dumps(
            {
                "deadLetterTargetArn": arn(region, account, settings.dead_letter),
                "maxReceiveCount": settings.max_attempts,
            }
        ).decode()
    return attributes


def _timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
