"""Wants: consumers waiting for the next item of a queue.

A want is answered by exactly one item. A put is handed to the longest-waiting
want whose key matches: a want without a key matches any item, a keyed want
only items with the same key (case-insensitively). Finding that want costs
O(1): per queue, unkeyed wants and each key's wants are kept in arrival order
and only the heads are compared.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from typing import Protocol

from disqueue.models import Item, match_key


class Consumer(Protocol):
    """Something that can receive items for its wants (a WebSocket connection)."""

    def deliver(self, want: Want, item: Item, receipt: asyncio.Future[None] | None) -> bool:
        """Hand `item` to `want`; False if the consumer can no longer take it.

        When accepted, `receipt` (if given) is resolved once the item is written to
        the consumer, or given back to the core when it could not be written.
        """
        ...


_arrival = itertools.count()


class Want:
    """One outstanding request for one item."""

    __slots__ = ("consumer", "identifier", "key", "match", "queue", "seq")

    def __init__(self, consumer: Consumer, identifier: object, queue: str, key: str | None):
        self.consumer = consumer
        self.identifier = identifier
        self.queue = queue
        self.key = key
        self.match = match_key(key)
        self.seq = next(_arrival)

    def accepts(self, item: Item) -> bool:
        return self.match is None or self.match == match_key(item.key)


class _QueueWants:
    __slots__ = ("any", "keyed")

    def __init__(self) -> None:
        self.any: OrderedDict[int, Want] = OrderedDict()
        self.keyed: dict[str, OrderedDict[int, Want]] = {}

    def __len__(self) -> int:
        return len(self.any) + sum(len(w) for w in self.keyed.values())


class WantRegistry:
    """Every pending want, by queue and key, in arrival order."""

    def __init__(self) -> None:
        self._queues: dict[str, _QueueWants] = {}

    def add(self, want: Want) -> None:
        wants = self._queues.get(want.queue)
        if wants is None:
            wants = self._queues[want.queue] = _QueueWants()
        if want.match is None:
            wants.any[want.seq] = want
        else:
            wants.keyed.setdefault(want.match, OrderedDict())[want.seq] = want

    def remove(self, want: Want) -> bool:
        """Forget `want`; False if it was not pending (answered or cancelled)."""
        wants = self._queues.get(want.queue)
        if wants is None:
            return False
        if want.match is None:
            found = wants.any.pop(want.seq, None) is not None
        else:
            keyed = wants.keyed.get(want.match)
            found = keyed is not None and keyed.pop(want.seq, None) is not None
            if keyed is not None and not keyed:
                del wants.keyed[want.match]
        if not wants.any and not wants.keyed:
            del self._queues[want.queue]
        return found

    def pending(self, want: Want) -> bool:
        """Whether `want` is still waiting for its item."""
        wants = self._queues.get(want.queue)
        if wants is None:
            return False
        if want.match is None:
            return want.seq in wants.any
        keyed = wants.keyed.get(want.match)
        return keyed is not None and want.seq in keyed

    def pop_match(self, queue: str, item: Item) -> Want | None:
        """Remove and return the longest-waiting want of `queue` that accepts `item`."""
        wants = self._queues.get(queue)
        if wants is None:
            return None
        first_any = next(iter(wants.any.values()), None)
        first_keyed = None
        if item.key is not None:
            keyed = wants.keyed.get(match_key(item.key) or "")
            if keyed:
                first_keyed = next(iter(keyed.values()))
        if first_any is None:
            chosen = first_keyed
        elif first_keyed is None:
            chosen = first_any
        else:
            chosen = first_any if first_any.seq < first_keyed.seq else first_keyed
        if chosen is not None:
            self.remove(chosen)
        return chosen

    def cancel_queue(self, queue: str) -> int:
        """Drop every want on `queue` (it was deleted); returns how many."""
        wants = self._queues.pop(queue, None)
        return 0 if wants is None else len(wants)

    def waiting(self, queue: str) -> bool:
        """Whether any want is pending on `queue`."""
        return queue in self._queues

    def count(self, queue: str) -> int:
        wants = self._queues.get(queue)
        return 0 if wants is None else len(wants)
