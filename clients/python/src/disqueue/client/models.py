"""What the client returns: typed views of the protocol's payloads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Item:
    """An item as `take`, `peek` or a consumer delivers it.

    `id` names the item; `attempts`, `lease_expires` (Unix time) and `receipt` (what
    names this delivery's lease, API.md Part 3) are set only on leased deliveries;
    `dead_letter_from` (the queue a dead letter left) only on dead letters; `headers`
    only on items put with some; `priority` is 0 unless the item was put with another.
    """

    value: str
    key: str | None = None
    id: str | None = None
    attempts: int | None = None
    lease_expires: float | None = None
    receipt: str | None = None
    dead_letter_from: str | None = None
    headers: Mapping[str, str] | None = None
    priority: int = 0

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Item:
        """The item object of the protocol (extra fields are ignored). Made without
        the frozen `__init__` (an `object.__setattr__` a field): a consumer makes one
        an item, and this takes less than half the time."""
        item = object.__new__(cls)
        get = payload.get
        _set_value(item, payload["value"])
        for setter, name in _OPTIONAL:
            setter(item, get(name))
        _set_priority(item, get("priority", 0))
        return item

    def to_dict(self) -> dict[str, Any]:
        """The item as the protocol writes it, without the fields that are not set."""
        wire: dict[str, Any] = {"key": self.key, "value": self.value}
        for name in ("id", "attempts", "lease_expires", "receipt", "dead_letter_from"):
            if getattr(self, name) is not None:
                wire[name] = getattr(self, name)
        if self.headers:
            wire["headers"] = dict(self.headers)
        if self.priority:
            wire["priority"] = self.priority
        return wire


# Item's slots, set directly by `Item.from_payload` (every field but `value` and
# `priority` defaults to None).
_set_value = Item.__dict__["value"].__set__
_set_priority = Item.__dict__["priority"].__set__
_OPTIONAL = tuple(
    (Item.__dict__[field.name].__set__, field.name)
    for field in fields(Item)
    if field.name not in ("value", "priority")
)


@dataclass(frozen=True, slots=True)
class Settled:
    """What a batch ack, release or touch did: how many leases it ended (or extended),
    the receipts that named no live lease, and for a touch the leases' new end."""

    done: int
    missing: list[str]
    lease_expires: float | None = None

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Settled:
        return cls(payload["done"], list(payload["missing"]), payload.get("lease_expires"))


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """`POST /queue`: the queue's depths, settings and running totals (API.md Part 2).

    Fields a server does not send are None (the original server sends only `name`).
    """

    name: str
    size: int | None = None
    delayed: int | None = None
    in_flight: int | None = None
    consumers: int | None = None
    created: str | None = None
    lease: float | None = None
    max_attempts: int | None = None
    dead_letter: str | None = None
    max_items: int | None = None
    retry_delays: list[float] | None = None
    delay: float | None = None
    ttl: float | None = None
    paused: bool | None = None
    put: int | None = None
    taken: int | None = None
    acked: int | None = None
    expired: int | None = None
    dead_lettered: int | None = None
    ordered: bool | None = None

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> QueueInfo:
        """The info object of the protocol (unknown fields are ignored)."""
        known = {field.name for field in fields(cls)}
        return cls(**{name: value for name, value in payload.items() if name in known})

    def to_dict(self) -> dict[str, Any]:
        """Every field, by name."""
        return {field.name: getattr(self, field.name) for field in fields(self)}
