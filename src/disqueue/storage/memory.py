"""The in-memory backend: fast, and nothing survives a restart.

Each queue keeps its items in one ordered map (arrival order) and, per
lower-cased key, a second ordered map over the same items, so both an unkeyed
and a keyed take remove the head of a map in O(1) instead of scanning.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from datetime import datetime

from disqueue.errors import QueueNotFound
from disqueue.models import Item, QueueInfo, match_key


class _Queue:
    __slots__ = ("by_key", "created", "items", "put", "taken")

    def __init__(self) -> None:
        self.created: datetime = QueueInfo.now()
        self.items: OrderedDict[int, Item] = OrderedDict()
        self.by_key: dict[str, OrderedDict[int, Item]] = {}
        self.put = 0
        self.taken = 0

    def add(self, seq: int, item: Item, front: bool) -> None:
        self.items[seq] = item
        if front:
            self.items.move_to_end(seq, last=False)
        match = match_key(item.key)
        if match is not None:
            keyed = self.by_key.get(match)
            if keyed is None:
                keyed = self.by_key[match] = OrderedDict()
            keyed[seq] = item
            if front:
                keyed.move_to_end(seq, last=False)

    def head(self, key: str | None) -> tuple[int, Item] | None:
        source = self.items if key is None else self.by_key.get(match_key(key) or "")
        if not source:
            return None
        return next(iter(source.items()))

    def remove(self, seq: int, item: Item) -> None:
        del self.items[seq]
        match = match_key(item.key)
        if match is not None:
            keyed = self.by_key[match]
            del keyed[seq]
            if not keyed:
                del self.by_key[match]


class MemoryStorage:
    """Queues in a dict, kept in creation order."""

    kind = "memory"

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}
        self._seq = itertools.count()

    def _queue(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            raise QueueNotFound()
        return queue

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def create_queue(self, name: str) -> bool:
        if name in self._queues:
            return False
        self._queues[name] = _Queue()
        return True

    async def queues(self) -> list[str]:
        return list(self._queues)

    async def queue_count(self) -> int:
        return len(self._queues)

    async def exists(self, name: str) -> bool:
        return name in self._queues

    async def info(self, name: str) -> QueueInfo:
        queue = self._queue(name)
        size = len(queue.items)
        return QueueInfo(name, queue.created, size, put=queue.put, taken=queue.taken)

    async def delete_queue(self, name: str) -> None:
        self._queue(name)
        del self._queues[name]

    async def put(self, name: str, item: Item) -> None:
        queue = self._queue(name)
        queue.add(next(self._seq), item, front=False)
        queue.put += 1

    async def put_front(self, name: str, item: Item) -> None:
        queue = self._queue(name)
        queue.add(next(self._seq), item, front=True)
        queue.taken -= 1

    async def take(self, name: str, key: str | None) -> Item | None:
        queue = self._queue(name)
        head = queue.head(key)
        if head is None:
            return None
        queue.remove(*head)
        queue.taken += 1
        return head[1]

    async def peek(self, name: str, key: str | None) -> Item | None:
        head = self._queue(name).head(key)
        return None if head is None else head[1]

    async def count_handoff(self, name: str) -> None:
        queue = self._queue(name)
        queue.put += 1
        queue.taken += 1
