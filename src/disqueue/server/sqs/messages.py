"""Message attributes as item headers, and the other SQS facts a message carries.

One header per message attribute: the attribute's name, and `<DataType>:<value>` (the
value as it is for String and Number types, base64 for Binary ones), so every DataType,
custom ones (`Number.float`, `Binary.gzip`) too, comes back exactly. A header put by
another API that has no such type prefix reads as a String attribute of its whole value.

Facts of SQS's own go in headers named `sqs:...` (a colon is never in an attribute name):
`sqs:sent` (SentTimestamp, ms), `sqs:seq` (a FIFO message's SequenceNumber), `sqs:dedup`
(its MessageDeduplicationId), `sqs:trace` (the AWSTraceHeader system attribute).

The headers' limits (16 entries, names up to 128 characters, 8 KiB in all) bound what a
message may carry here: up to 10 attributes (SQS's limit), names up to 128 characters.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from disqueue.core import contract
from disqueue.server.sqs.errors import SqsError, invalid

SENT, SEQUENCE, DEDUP, TRACE = "sqs:sent", "sqs:seq", "sqs:dedup", "sqs:trace"
MAX_ATTRIBUTES = 10

_NAME = re.compile(rf"[A-Za-z0-9_.-]{{1,{contract.HEADER_NAME_MAX}}}")
_TYPE = re.compile(r"(String|Number|Binary)(\.[A-Za-z0-9_.-]+)?")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# The characters SQS allows in a message (and in String attribute values).
_INVALID_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def check_text(text: str, what: str) -> None:
    if _INVALID_TEXT.search(text):
        raise SqsError("InvalidMessageContents", f"Invalid characters found in {what}.")


def _attribute(name: str, raw: Any) -> tuple[str, str]:
    """A message attribute of a request, checked as SQS does, as its header."""
    if (
        not _NAME.fullmatch(name)
        or name.startswith(("AWS.", "Amazon.", "."))
        or ".." in name
        or name.endswith(".")
    ):
        raise invalid(f"Message attribute name '{name}' is invalid.")
    if not isinstance(raw, dict):
        raise invalid(f"The message attribute '{name}' must be a structure.")
    kind = raw.get("DataType")
    if not isinstance(kind, str) or not kind:
        raise invalid(f"The message attribute '{name}' must contain a non-empty data type.")
    if not _TYPE.fullmatch(kind) or len(kind) > 256:
        raise invalid(
            f"The type of message attribute '{name}' is invalid. You must use only "
            "the following supported type prefixes: Binary, Number, String."
        )
    if kind.startswith("Binary"):
        value = raw.get("BinaryValue")
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode()
        if not isinstance(value, str) or not value:
            raise invalid(
                f"The message attribute '{name}' with type 'Binary' must use field 'Binary'."
            )
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error:
            raise invalid(f"The message attribute '{name}' has an invalid binary value.") from None
        return name, f"{kind}:{value}"
    value = raw.get("StringValue")
    if not isinstance(value, str) or not value:
        raise invalid(
            f"The message attribute '{name}' must contain a non-empty message "
            "attribute value for message attribute type '" + kind.split(".")[0] + "'."
        )
    check_text(value, f"the message attribute '{name}'")
    if kind.startswith("Number") and not _NUMBER.fullmatch(value):
        raise invalid(f"Can't cast the value of message attribute '{name}' to a number.")
    return name, f"{kind}:{value}"


def to_headers(attributes: Any) -> dict[str, str]:
    """A request's MessageAttributes as headers (checked; SQS's errors)."""
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise invalid("MessageAttributes must be a map.")
    if len(attributes) > MAX_ATTRIBUTES:
        raise invalid(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed "
            f"maximum [{MAX_ATTRIBUTES}]."
        )
    return dict(_attribute(name, raw) for name, raw in attributes.items())


def from_headers(headers: Mapping[str, str] | None) -> dict[str, dict[str, str]]:
    """An item's headers as SQS message attributes (JSON shape: binary in base64)."""
    attributes: dict[str, dict[str, str]] = {}
    for name, text in (headers or {}).items():
        if name.startswith("sqs:"):
            continue
        kind, sep, value = text.partition(":")
        if not sep or not _TYPE.fullmatch(kind):
            kind, value = "String", text
        member = "BinaryValue" if kind.startswith("Binary") else "StringValue"
        attributes[name] = {member: value, "DataType": kind}
    return attributes


def digestible(attributes: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, object]]:
    """Attributes in the JSON shape, with binary values as bytes (for `md5`)."""
    return {
        name: {**value, "BinaryValue": base64.b64decode(value["BinaryValue"])}
        if "BinaryValue" in value
        else dict(value)
        for name, value in attributes.items()
    }


def size(body: str, headers: Mapping[str, str]) -> int:
    """A message's size as SQS counts it: the body, and each attribute's name, type and
    value (binary ones decoded)."""
    total = len(body.encode("utf-8"))
    for name, attribute in from_headers(headers).items():
        value = attribute.get("StringValue")
        length = (
            len(value.encode("utf-8"))
            if value is not None
            else len(base64.b64decode(attribute["BinaryValue"]))
        )
        total += len(name.encode("utf-8")) + len(attribute["DataType"]) + length
    return total


def wanted(names: Any) -> tuple[bool, set[str], tuple[str, ...]]:
    """MessageAttributeNames: (all of them, exact names, name prefixes of `prefix.*`)."""
    if not isinstance(names, list):
        return False, set(), ()
    every = any(name in ("All", ".*") for name in names)
    exact = {name for name in names if isinstance(name, str) and not name.endswith(".*")}
    prefixes = tuple(name[:-1] for name in names if isinstance(name, str) and name.endswith(".*"))
    return every, exact, prefixes


def select(
    attributes: dict[str, dict[str, str]], names: tuple[bool, set[str], tuple[str, ...]]
) -> dict[str, dict[str, str]]:
    every, exact, prefixes = names
    if every:
        return attributes
    return {k: v for k, v in attributes.items() if k in exact or k.startswith(prefixes)}
