"""What an embedded backend provides to `RuleStorage`: where items are kept.

The rules (`rules.py`, following `disqueue.core.contract`) decide; a `Persistence`
only makes each decision durable (or, for the memory backend, keeps the values). Each
method returns once its change is done, and raises `StorageFailure` if it was not
made at all; the rules touch memory around these calls in the order that keeps that
safe (see `rules.py`). Positions (`pos`) are the rules' to choose; they are unique
within the backend and order every queue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import NamedTuple, Protocol, TypeVar

from disqueue.models import QueueSettings
from disqueue.storage.common import Totals

T = TypeVar("T")


class Stored(NamedTuple):
    """An item as a backend hands it back."""

    id: str
    key: str | None
    value: str
    attempts: int
    headers: str | None = None  # JSON text (`storage.common.encode_headers`)


class Row(NamedTuple):
    """An item to store: where, what, and its put options as Unix times."""

    pos: int
    id: str
    key: str | None
    value: str
    attempts: int
    visible_at: float | None
    ttl_at: float | None
    headers: str | None = None  # JSON text (`storage.common.encode_headers`)
    priority: int = 0
    #: Stored in flight (a put handed to a leased want): until when, under which token.
    lease_until: float | None = None
    token: str | None = None


#: A `Row`'s fields from `attempts` on, for an item put without options (`Row._fields[4:]`).
NO_OPTIONS = (0, None, None, None, 0, None, None)


class LoadedQueue(NamedTuple):
    """A queue as a backend loads it at start."""

    id: int
    name: str
    created: datetime
    settings: QueueSettings
    totals: Totals
    paused: bool = False


class LoadedItem(NamedTuple):
    """An item as a backend loads it at start (ordered by position). `token` is the
    receipt token of its live delivery when `lease_until` is set."""

    pos: int
    queue_id: int
    id: str
    key: str | None
    attempts: int
    lease_until: float | None
    visible_at: float | None
    ttl_at: float | None
    token: str | None
    dead_letter_from: str | None = None
    priority: int = 0


class LoadedDedup(NamedTuple):
    """A claim of the de-duplication window."""

    queue_id: int
    dedup_id: str
    item_id: str
    until: float


#: What `Persistence.open` hands the rules to rebuild memory from: the queues, the items
#: (an iterator: a million of them never sit in a list) and the dedup window.
Restore = Callable[[Iterable[LoadedQueue], Iterable[LoadedItem], Iterable[LoadedDedup]], T]


class Persistence(Protocol):
    """Where an embedded backend keeps queues and items."""

    async def open(self, restore: Restore[T]) -> T:
        """Open the store and call `restore` with what it holds (an empty store: with
        nothing); returns what `restore` returned."""
        ...

    async def check(self) -> None:
        """Raise `StorageUnavailable` if the store cannot serve now."""
        ...

    async def close(self) -> None:
        """Make everything durable and close."""
        ...

    async def create(self, name: str, created: datetime, settings: QueueSettings) -> int:
        """Store a new queue; its id."""
        ...

    async def drop(self, queue_id: int, positions: list[int]) -> None:
        """Remove a queue and its items (`positions` are those the rules know of)."""
        ...

    async def insert(
        self, queue_id: int, rows: list[Row], dedup: list[tuple[str, str, float]]
    ) -> None:
        """Store new items, and their dedup claims (dedup id, item id, until)."""
        ...

    async def take(self, positions: list[int]) -> list[Stored | None]:
        """Remove items and return them (None where a position holds nothing)."""
        ...

    async def lease(self, positions: list[int], until: float, token: str) -> list[Stored | None]:
        """Put items in flight until `until` under the receipt token `token`, one more
        attempt each; return them as leased."""
        ...

    async def peek(self, pos: int) -> Stored | None:
        """Read an item without changing it."""
        ...

    async def delete(self, positions: list[int]) -> None:
        """Remove items (acked, purged, expired, dropped)."""
        ...

    async def requeue(
        self, pos: int, new_pos: int, visible_at: float | None, attempts: int | None = None
    ) -> None:
        """Move an item to `new_pos`, out of flight, visible at `visible_at` (None: now),
        delivered `attempts` times so far (None: as stored; a backend may keep the
        count of an item in flight elsewhere than in its row)."""
        ...

    async def touch(self, pos: int, until: float) -> None:
        """Move a lease's end."""
        ...

    async def move(self, pos: int, queue_id: int, new_pos: int, origin: str, attempts: int) -> None:
        """Dead-letter an item: into another queue at `new_pos`, out of flight, with no
        delay and no ttl, delivered `attempts` times, noting the queue it came from
        (`origin`)."""
        ...

    async def redrive(self, moves: list[tuple[int, int, int]]) -> None:
        """Send dead letters back: each (pos, queue id, new pos), attempts reset, the
        queue they came from forgotten."""
        ...

    async def change(self, queue_id: int, settings: QueueSettings) -> None:
        """Keep a queue's new settings."""
        ...

    async def pause(self, queue_id: int, paused: bool) -> None:
        """Keep whether a queue is paused."""
        ...

    def count(self, queue_id: int, totals: Totals) -> None:
        """Add to a queue's running totals (statistics: never waited for)."""
        ...
