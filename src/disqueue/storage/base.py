"""The storage interface every backend implements.

Storage holds queues and their items and applies FIFO and key matching; it
knows nothing of HTTP, WebSockets or waiting consumers (that is the core's
job, in `disqueue.core.service`). Names reaching storage are already canonical.
Methods on a queue that does not exist raise `QueueNotFound`.
"""

from __future__ import annotations

from typing import Protocol

from disqueue.models import Item, QueueInfo


class Storage(Protocol):
    """Queues of items, FIFO per queue, with case-insensitive key matching."""

    #: A short name for `/health` and logs ("memory", "sqlite", ...).
    kind: str

    async def open(self) -> None:
        """Make the backend ready to serve (connect, load, migrate)."""
        ...

    async def close(self) -> None:
        """Release everything; nothing acknowledged may be lost by closing."""
        ...

    async def create_queue(self, name: str) -> bool:
        """Create `name` if it does not exist; True if it was created now."""
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

    async def info(self, name: str) -> QueueInfo:
        """Size, creation time and totals of the queue."""
        ...

    async def delete_queue(self, name: str) -> None:
        """Drop the queue and its items."""
        ...

    async def put(self, name: str, item: Item) -> None:
        """Append `item` at the back of the queue."""
        ...

    async def put_front(self, name: str, item: Item) -> None:
        """Give `item` back at the front of the queue (it was not delivered)."""
        ...

    async def take(self, name: str, key: str | None) -> Item | None:
        """Remove and return the oldest item (with a matching key, if `key` is given)."""
        ...

    async def peek(self, name: str, key: str | None) -> Item | None:
        """Return, without removing, what `take` would return."""
        ...

    async def count_handoff(self, name: str) -> None:
        """Count an item put and taken at once (handed to a waiting consumer)."""
        ...
