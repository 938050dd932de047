"""The storage interface every backend implements.

Storage holds queues and their items and applies FIFO and key matching; it
knows nothing of HTTP, WebSockets or waiting consumers (that is the core's
job, in `disqueue.core.service`). Names reaching storage are already canonical.
Methods on a queue that does not exist raise `QueueNotFound`.

A backend that commits in groups may also have a `commits` attribute, a
`disqueue.latency.Latencies` it fills with the time of each commit; the core
reports it in `/metrics` when it is there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Protocol

from disqueue.errors import ConfigError
from disqueue.models import Item, NewItem, QueueInfo, QueueSettings

if TYPE_CHECKING:  # the core imports this module: no import of it back at run time
    from disqueue.core.contract import LeaseRef


class Storage(Protocol):
    """Queues of items, FIFO per queue, with case-insensitive key matching, leases with
    receipts, delays, ttl, de-duplication and dead letters (API.md Parts 2 and 3), each
    decided as `disqueue.core.contract` says."""

    #: A short name for `/health` and logs ("memory", "sqlite", ...).
    kind: str

    #: Where the backend reads the time (Unix seconds) for every decision: `time.time`,
    #: or a test's fake clock.
    clock: Callable[[], float]

    #: Called with a queue's name when items become ready other than by a put (a lease
    #: ended, a delay ended, a dead letter arrived), so the core can wake consumers.
    on_ready: Callable[[str], None]

    async def open(self) -> None:
        """Make the backend ready to serve (connect, load, migrate)."""
        ...

    async def check(self) -> None:
        """Raise `StorageUnavailable` if the backend cannot serve now (for `/health`)."""
        ...

    async def close(self) -> None:
        """Release everything; nothing acknowledged may be lost by closing."""
        ...

    async def create_queue(
        self, name: str, settings: QueueSettings | None = None, max_queues: int | None = None
    ) -> bool:
        """Create `name` if it does not exist; True if it was created now. With
        `max_queues`, raise `TooMany` instead if that many queues exist (on a backend
        shared by nodes, counted under a lock they share)."""
        ...

    async def queues(self) -> list[str]:
        """Every queue name, oldest first."""
        ...

    async def queue_count(self) -> int:
        """How many queues exist."""
        ...

    async def exists(self, name: str) -> bool:
        """Whether the queue exists."""
        ...

    async def settings(self, name: str) -> QueueSettings:
        """What the queue was created with (raises `QueueNotFound`)."""
        ...

    async def info(self, name: str) -> QueueInfo:
        """Size, creation time and totals of the queue."""
        ...

    async def delete_queue(self, name: str) -> None:
        """Drop the queue and its items."""
        ...

    async def put(self, name: str, item: Item) -> None:
        """Append `item` at the back of the queue."""
        ...

    async def put_many(self, name: str, items: list[NewItem]) -> list[str]:
        """Store all of `items` (with their options) or none; their ids. Raises
        `QueueFull` past the queue's `max_items`."""
        ...

    async def put_front(self, name: str, item: Item) -> None:
        """Give `item` back at the front of the queue (it was not delivered)."""
        ...

    async def put_leased(self, name: str, item: Item, lease: float) -> Item | None:
        """Store a plain `item` already in flight for `lease` seconds (its first
        delivery, with a receipt), in one write: a put handed to a consumer that waits
        with a lease. None, and nothing stored, where the queue's rules want the item to
        wait its turn (paused, delayed by default, a ttl, ordered, priorities), or where
        the backend cannot: then the caller puts and takes it the usual way."""
        ...

    async def take(self, name: str, key: str | None, lease: float | None = None) -> Item | None:
        """Remove and return the oldest item (with a matching key, if `key` is given);
        with `lease`, keep it in flight for that many seconds instead of removing it."""
        ...

    async def take_many(
        self, name: str, key: str | None, count: int, lease: float | None = None
    ) -> list[Item]:
        """Up to `count` items, as `take` would return them one by one."""
        ...

    async def ack(self, name: str, refs: Sequence[LeaseRef]) -> list[bool]:
        """Remove the items in flight that `refs` name; for each, False if it names no
        live lease (an older delivery's receipt, an expired or ended lease)."""
        ...

    async def release(
        self, name: str, refs: Sequence[LeaseRef], delay: float | None = None
    ) -> list[bool]:
        """End leases early: the items go back to the front (after `delay`; None: the
        queue's retry delay), keeping the order of `refs`; for each, whether it named a
        live lease."""
        ...

    async def touch(
        self, name: str, refs: Sequence[LeaseRef], lease_seconds: float
    ) -> list[float | None]:
        """Extend leases to `lease_seconds` from now; for each, its new end, or None."""
        ...

    async def purge(self, name: str, in_flight: bool = False) -> int:
        """Drop every ready and delayed item (with `in_flight`, those in flight too,
        whose receipts then name nothing); how many."""
        ...

    async def change_settings(self, name: str, settings: QueueSettings) -> None:
        """Give the queue `settings` (all of them; `ordered` never changes), from now
        on for every decision, on every node (raises `QueueNotFound`)."""
        ...

    async def redrive(self, name: str, to: str | None, count: int | None) -> int:
        """Move up to `count` (None: all) ready items of `name`, oldest first, to the
        back of `to` or of the queue each came from (`contract.redrive_target`), with
        attempts reset and no `dead_letter_from`; items with no target that exists stay.
        How many moved."""
        ...

    async def pause(self, name: str, paused: bool) -> None:
        """Pause (True) or resume a queue: while paused, takes find nothing (peeks
        still see the head); on every node at once. Resuming wakes its consumers."""
        ...

    async def paused(self, name: str) -> bool:
        """Whether the queue is paused (raises `QueueNotFound`)."""
        ...

    async def peek(self, name: str, key: str | None) -> Item | None:
        """Return, without removing, what `take` would return."""
        ...

    async def count_handoff(self, name: str) -> None:
        """Count an item put and taken at once (handed to a waiting consumer)."""
        ...

    async def run_deadlines(self) -> None:
        """Handle now every deadline due by `clock` (a backend does this on its own as
        they fall due; a test that moves a fake clock calls it)."""
        ...


def pending_migrations(backend: str, version: int, where: str) -> list[tuple[int, str]]:
    """The migrations that bring a schema at `version` to this server's: (number, SQL)
    pairs. A schema newer than this server is refused (`where` names it)."""
    steps = migrations(backend)
    if version > len(steps):
        raise ConfigError(
            f"{where}: schema version {version} is newer than this server's ({len(steps)}); "
            "upgrade disqueue"
        )
    return list(enumerate(steps, 1))[version:]


def migrations(backend: str) -> list[str]:
    """A backend's schema migrations (`sql/<backend>_NNN_*.sql`), in order: migration N
    brings the schema to version N."""
    folder = resources.files("disqueue.storage") / "sql"
    names = sorted(p.name for p in folder.iterdir() if p.name.startswith(f"{backend}_"))
    return [(folder / name).read_text(encoding="utf-8") for name in names]
