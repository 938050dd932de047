"""What a consumer hands out: `Message` (asyncio) and its base `Delivered`."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from disqueue.client.models import Item

if TYPE_CHECKING:
    from disqueue.client.consumer import AsyncConsumer


class Delivered:
    """What a consumer hands out: the `item`, and its fields by name."""

    __slots__ = ()
    item: Item

    @property
    def key(self) -> str | None:
        """The item's key."""
        return self.item.key

    @property
    def value(self) -> str:
        """The item's value."""
        return self.item.value

    @property
    def id(self) -> str | None:
        """The item's id (which also names its lease)."""
        return self.item.id

    @property
    def attempts(self) -> int | None:
        """How many times the item was delivered, this time included (leased only)."""
        return self.item.attempts

    @property
    def lease_expires(self) -> float | None:
        """When the lease runs out (Unix time; leased only)."""
        return self.item.lease_expires

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.item!r})"


class Message(Delivered):
    """One delivered item (`key`, `value`, `id`, `attempts`, `lease_expires`) and
    what to do with it. `async with message:` acks it when the block finishes and
    releases it when the block raises."""

    __slots__ = ("_consumer", "generation", "item", "settled")

    def __init__(self, item: Item, consumer: AsyncConsumer, generation: int) -> None:
        self.item = item
        self._consumer = consumer
        self.generation = generation  # the connection it came on
        self.settled = False

    async def ack(self) -> None:
        """Acknowledge the item and wait for the server's answer (`NoSuchLease` if
        the lease ran out or went with a broken connection)."""
        await self._consumer.settle(self, "ack", wait=True)

    async def release(self, delay: float | None = None) -> None:
        """Give the item back to the front of its queue (after `delay` seconds)."""
        await self._consumer.settle(self, "release", wait=True, delay=delay)

    async def touch(self, lease: float) -> float:
        """Extend the lease to `lease` seconds from now; the new expiry."""
        return await self._consumer.touch(self, lease)

    async def __aenter__(self) -> Message:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._consumer.settle(self, "ack" if exc is None else "release")
