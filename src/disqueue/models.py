"""Domain values shared by the core, the storage backends and the edges."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Item ids are a random per-process prefix and a counter: unique across queues,
# restarts and nodes (64 random bits), without a system call per item.
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count(1)


def new_item_id() -> str:
    """A fresh item id, unique within a queue and across processes."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):x}"


def match_key(key: str | None) -> str | None:
    """The form of a key used for matching: keys compare case-insensitively."""
    return None if key is None else key.lower()


@dataclass(slots=True)
class Item:
    """A value with an optional key, as stored in a queue."""

    value: str
    key: str | None = None
    id: str = field(default_factory=new_item_id)

    def to_wire(self) -> dict[str, Any]:
        """The item object of the protocol: `key`, `value` and (Part 2) `id`."""
        return {"key": self.key, "value": self.value, "id": self.id}


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """What storage knows about one queue."""

    name: str
    created: datetime
    size: int
    put: int
    taken: int

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)
