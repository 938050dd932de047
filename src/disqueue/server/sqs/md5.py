"""The MD5 digests SQS answers with, computed exactly as AWS does (SDKs check them).

- `MD5OfMessageBody`: the hex MD5 of the body's UTF-8 bytes.
- `MD5OfMessageAttributes` (and `MD5OfMessageSystemAttributes`): the hex MD5 of the
  attributes sorted by name, each as: the name, the data type (both length-prefixed:
  4-byte big-endian length, then the UTF-8 bytes), a transport byte (1 for String and
  Number types, 2 for Binary ones), then the value, length-prefixed (UTF-8 text, or the
  binary bytes). No attributes: no digest at all.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping

#: An attribute as SQS carries it: {"DataType": ..., "StringValue" | "BinaryValue": ...}.
Attribute = Mapping[str, object]


def body_md5(body: str) -> str:
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


def _prefixed(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def attributes_md5(attributes: Mapping[str, Attribute]) -> str | None:
    """The digest of message (or system) attributes; None when there are none."""
    if not attributes:
        return None
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        attribute = attributes[name]
        kind = str(attribute["DataType"])
        digest.update(_prefixed(name.encode("utf-8")) + _prefixed(kind.encode("utf-8")))
        if kind.startswith("Binary"):
            value = attribute["BinaryValue"]
            assert isinstance(value, bytes)
            digest.update(b"\x02" + _prefixed(value))
        else:
            digest.update(b"\x01" + _prefixed(str(attribute["StringValue"]).encode("utf-8")))
    return digest.hexdigest()
