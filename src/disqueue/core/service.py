"""The queue service: the protocol's actions over a storage backend.

It knows the rules that involve more than storage: queue names, limits, and
wants (consumers waiting on a WebSocket). A put first looks for a waiting
want and hands the item over instead of storing it; a want first looks for a
stored item and waits only when there is none.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from disqueue.config import Limits
from disqueue.core.names import QueueNames
from disqueue.core.wants import Consumer, Want, WantRegistry
from disqueue.errors import NoItem, QueueNotFound, TooLarge, TooMany
from disqueue.models import Item
from disqueue.storage.base import Storage

log = logging.getLogger("disqueue.core")


def _utf8_size(text: str) -> int:
    # A character is at most 4 bytes in UTF-8: skip the encoding when it cannot matter.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class QueueService:
    """Everything a transport may ask of the queues."""

    def __init__(self, storage: Storage, names: QueueNames, limits: Limits) -> None:
        self.storage = storage
        self.names = names
        self.limits = limits
        self.wants = WantRegistry()

    async def create_queue(self, name: str | None = None) -> str:
        """Create a queue (a new random name without `name`); an existing name is returned."""
        name = self.names.generate() if name is None else self.names.parse(name)
        if await self.storage.exists(name):
            return name
        limit = self.limits.max_queues
        if limit is not None and await self.storage.queue_count() >= limit:
            raise TooMany("too many queues")
        await self.storage.create_queue(name)
        return name

    async def queues(self) -> list[str]:
        return await self.storage.queues()

    async def info(self, name: str) -> dict[str, Any]:
        name = self.names.parse(name)
        info = await self.storage.info(name)
        return {
            "name": info.name,
            "size": info.size,
            "consumers": self.wants.count(name),
            "created": info.created.isoformat(),
            "put": info.put,
            "taken": info.taken,
        }

    async def delete_queue(self, name: str) -> None:
        """Drop the queue, its items, and (silently) the wants waiting on it."""
        name = self.names.parse(name)
        await self.storage.delete_queue(name)
        self.wants.cancel_queue(name)

    def _check_sizes(self, value: str, key: str | None) -> None:
        if _utf8_size(value) > self.limits.max_value_bytes:
            raise TooLarge("value too large")
        if key is not None and _utf8_size(key) > self.limits.max_key_bytes:
            raise TooLarge("key too large")

    async def put(self, name: str, value: str, key: str | None = None) -> Item:
        """Store an item, or hand it straight to the longest-waiting matching want."""
        name = self.names.parse(name)
        self._check_sizes(value, key)
        item = Item(value=value, key=key)
        if self.wants.waiting(name):
            if not await self.storage.exists(name):
                raise QueueNotFound()
            # The put is answered once the item is written to the consumer (or, if that
            # failed, stored again): an acknowledged put is never only in a buffer.
            receipt = asyncio.get_running_loop().create_future()
            if self._hand_off(name, item, receipt):
                await self.storage.count_handoff(name)
                await receipt
                return item
        await self.storage.put(name, item)
        return item

    async def take(self, name: str, key: str | None = None) -> Item:
        item = await self.storage.take(self.names.parse(name), key)
        if item is None:
            raise NoItem("take")
        return item

    async def peek(self, name: str, key: str | None = None) -> Item:
        item = await self.storage.peek(self.names.parse(name), key)
        if item is None:
            raise NoItem("peek")
        return item

    async def want(
        self, consumer: Consumer, identifier: object, name: str, key: str | None
    ) -> Want:
        """Register a want; it is answered now from storage or later by a put.

        The want is registered before storage is asked, so a put that lands
        meanwhile either finds the want or is found by the take; if both
        happen, the want keeps the hand-off and the taken item goes back.
        """
        want = Want(consumer, identifier, self.names.parse(name), key)
        self.wants.add(want)
        try:
            item = await self.storage.take(want.queue, key)
        except QueueNotFound:
            self.wants.remove(want)
            raise
        if item is not None:
            if self.wants.remove(want) and consumer.deliver(want, item, None):
                return want
            await self.give_back(want.queue, item)
        return want

    def cancel(self, want: Want) -> None:
        """Forget a want that is no longer wanted (its connection closed)."""
        self.wants.remove(want)

    async def give_back(
        self, name: str, item: Item, receipt: asyncio.Future[None] | None = None
    ) -> None:
        """An item chosen for a want that could not receive it: offer it to the next
        matching want, else put it back at the front of its queue. If the queue was
        deleted meanwhile, the item goes with it. `receipt` travels with the item and
        is resolved once it is delivered or stored again."""
        if self._hand_off(name, item, receipt):
            return
        try:
            await self.storage.put_front(name, item)
        except QueueNotFound:
            log.info("item %s not returned: queue %s was deleted", item.id, name)
        if receipt is not None and not receipt.done():
            receipt.set_result(None)

    def _hand_off(self, name: str, item: Item, receipt: asyncio.Future[None] | None = None) -> bool:
        while (want := self.wants.pop_match(name, item)) is not None:
            if want.consumer.deliver(want, item, receipt):
                return True
        return False
