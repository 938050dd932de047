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
    """A value with an optional key, as stored in a queue; leased items also carry
    how often they were delivered, when their lease runs out, and the delivery's
    receipt (API.md Part 3)."""

    value: str
    key: str | None = None
    id: str = field(default_factory=new_item_id)
    attempts: int = 0
    lease_expires: float | None = None
    receipt: str | None = None
    dead_letter_from: str | None = None
    headers: dict[str, str] | None = None
    priority: int = 0

    def to_wire(self) -> dict[str, Any]:
        """The item object of the protocol: `key`, `value`, `id` (Part 2), for a leased
        item `attempts`, `lease_expires` and `receipt`, and for a dead letter the queue
        it came from, `dead_letter_from`, its `headers` when it has any, and its
        `priority` when it is not 0 (Part 3)."""
        wire: dict[str, Any] = {"key": self.key, "value": self.value, "id": self.id}
        if self.lease_expires is not None:
            wire["attempts"] = self.attempts
            wire["lease_expires"] = self.lease_expires
            wire["receipt"] = self.receipt
        if self.dead_letter_from is not None:
            wire["dead_letter_from"] = self.dead_letter_from
        if self.headers:
            wire["headers"] = self.headers
        if self.priority:
            wire["priority"] = self.priority
        return wire


class NewItem:
    """An item to put, with its put options (API.md Part 2). (A plain class: a batch
    put makes a thousand of these per request.)"""

    __slots__ = ("dedup_id", "delay", "headers", "id", "key", "priority", "ttl", "value")

    def __init__(
        self,
        value: str,
        key: str | None = None,
        delay: float | None = None,
        ttl: float | None = None,
        dedup_id: str | None = None,
        id: str | None = None,
        headers: dict[str, str] | None = None,
        priority: int = 0,
    ) -> None:
        self.value = value
        self.priority = priority
        self.headers = headers or None
        self.key = key
        self.delay = delay
        self.ttl = ttl
        self.dedup_id = dedup_id
        self.id = id or new_item_id()


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """What a queue is created with (all optional). `retry_delays`: seconds an item
    waits after its n-th delivery ended without an ack; `delay` and `ttl`: defaults for
    items put without their own; `ordered`: each key is a group, delivered in put order
    with one group's items in flight at a time (API.md Part 3; fixed at the create).
    `extras`: what an edge keeps with the queue beyond the core's settings (the SQS
    edge: its attributes and tags, as JSON text); kept, compared and changed like the
    rest, never read by the core."""

    lease: float | None = None
    max_attempts: int | None = None
    dead_letter: str | None = None
    max_items: int | None = None
    retry_delays: tuple[float, ...] | None = None
    delay: float | None = None
    ttl: float | None = None
    ordered: bool = False
    extras: str | None = None


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """What storage knows about one queue."""

    name: str
    created: datetime
    settings: QueueSettings
    size: int
    delayed: int
    in_flight: int
    put: int
    taken: int
    acked: int
    expired: int
    dead_lettered: int
    #: Unix time the oldest ready item was put (to about a second), None if none is.
    oldest: float | None = None
    #: Paused: puts are taken, nothing is delivered (API.md Part 3, "Pause").
    paused: bool = False

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """One live server node sharing the storage (PostgreSQL): its random id, host name
    and process id, when it started and was last seen (Unix time, the database's
    clock), and whether it is the node answering (`this`)."""

    id: str
    host: str
    pid: int
    started: float
    last_seen: float
    this: bool
