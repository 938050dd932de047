"""The in-memory backend: fast, and nothing survives a restart."""

from __future__ import annotations

import itertools
from datetime import datetime

from disqueue.errors import QueueNotFound
from disqueue.models import Item, QueueInfo, match_key
from disqueue.storage.index import QueueIndex

# An item as kept here: (value, key, id). A tuple of strings is something Python's
# garbage collector stops tracking, so a million queued items add nothing to the
# collector's full passes (an object per item made them pause for 100+ ms).
_Stored = tuple[str, str | None, str]


class _Queue:
    __slots__ = ("created", "index", "items", "put", "taken")

    def __init__(self) -> None:
        self.created: datetime = QueueInfo.now()
        self.index = QueueIndex()
        self.items: dict[int, _Stored] = {}
        self.put = 0
        self.taken = 0


class MemoryStorage:
    """Queues in a dict, kept in creation order; each queue's order in a `QueueIndex`."""

    kind = "memory"

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}
        self._pos = itertools.count()

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
        return QueueInfo(name, queue.created, len(queue.items), put=queue.put, taken=queue.taken)

    async def delete_queue(self, name: str) -> None:
        self._queue(name)
        del self._queues[name]

    def _add(self, queue: _Queue, item: Item, front: bool) -> None:
        pos = next(self._pos)
        queue.items[pos] = (item.value, item.key, item.id)
        queue.index.add(pos, match_key(item.key), front=front)

    async def put(self, name: str, item: Item) -> None:
        queue = self._queue(name)
        self._add(queue, item, front=False)
        queue.put += 1

    async def put_front(self, name: str, item: Item) -> None:
        queue = self._queue(name)
        self._add(queue, item, front=True)
        queue.taken -= 1

    async def take(self, name: str, key: str | None) -> Item | None:
        queue = self._queue(name)
        pos = queue.index.head(match_key(key))
        if pos is None:
            return None
        queue.index.remove(pos)
        queue.taken += 1
        return Item(*queue.items.pop(pos))

    async def peek(self, name: str, key: str | None) -> Item | None:
        queue = self._queue(name)
        pos = queue.index.head(match_key(key))
        return None if pos is None else Item(*queue.items[pos])

    async def count_handoff(self, name: str) -> None:
        queue = self._queue(name)
        queue.put += 1
        queue.taken += 1
