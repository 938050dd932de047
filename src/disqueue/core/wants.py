"""Wants: consumers waiting for items of a queue.

A want is answered by one item, or by `count` items one after another (a
standing want, for streaming). A put is handed to the longest-waiting want whose
key matches: a want without a key matches any item, a keyed want only items with
the same key (case-insensitively). Finding that want costs O(1): per queue,
unkeyed wants and each key's wants are kept in arrival order and only the heads
are compared. A want served but not finished goes to the back of the line, so
standing wants share a busy queue in turn.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from typing import Protocol

from disqueue.models import Item, match_key


class Consumer(Protocol):
    """Something that can receive items for its wants (a WebSocket, a long poll)."""

    def deliver(self, want: Want, item: Item, written: asyncio.Future[None] | None) -> bool:
        """Hand `item` to `want`; False if the consumer can no longer take it.

        When accepted, `written` (if given) is resolved once the item is written to
        the consumer, or given back to the core when it could not be written.
        """
        ...

    def takes_handoff(self) -> bool:
        """Whether a put may be handed to it now: a put waits until its item is
        written, so a consumer with items still waiting to be sent (one that may have
        stopped reading) is passed over, and the put is stored instead."""
        ...


_arrival = itertools.count()


class Want:
    """One outstanding request for `remaining` more items."""

    __slots__ = (
        "busy", "consumer", "grouped", "identifier", "key", "lease", "match", "queue",
        "remaining", "seq",
    )  # fmt: skip

    def __init__(
        self,
        consumer: Consumer,
        identifier: object,
        queue: str,
        key: str | None,
        *,
        lease: float | None = None,
        count: int = 1,
        grouped: bool = False,
    ) -> None:
        self.consumer = consumer
        self.identifier = identifier
        self.queue = queue
        self.key = key
        self.match = match_key(key)
        self.lease = lease
        self.remaining = count
        # Its consumer may send several of its items in one message (a WebSocket want's
        # `"frames": "batch"`).
        self.grouped = grouped
        self.seq = next(_arrival)
        # True while storage is asked for this want's items: a put must not be handed to
        # it then, or an item taken from storage for it would have to be stored again.
        self.busy = False


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
        """Register `want` at the back of the line (again, if it was served in part)."""
        want.seq = next(_arrival)
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
        """Whether `want` is still waiting for an item."""
        wants = self._queues.get(want.queue)
        if wants is None:
            return False
        if want.match is None:
            return wants.any.get(want.seq) is want
        keyed = wants.keyed.get(want.match)
        return keyed is not None and keyed.get(want.seq) is want

    def pop_match(self, queue: str, item: Item) -> Want | None:
        """Remove and return the longest-waiting want of `queue` that accepts `item`
        (passing over busy ones, and those whose consumer takes no hand-off now)."""
        chosen = self.first_match(queue, item)
        if chosen is not None:
            self.remove(chosen)
        return chosen

    def first_match(self, queue: str, item: Item) -> Want | None:
        """The want `pop_match` would choose, left in its place in line."""
        wants = self._queues.get(queue)
        if wants is None:
            return None
        first_any = next((w for w in wants.any.values() if _free(w)), None)
        first_keyed = None
        if item.key is not None:
            keyed = wants.keyed.get(match_key(item.key) or "")
            if keyed:
                first_keyed = next((w for w in keyed.values() if _free(w)), None)
        if first_any is None:
            chosen = first_keyed
        elif first_keyed is None:
            chosen = first_any
        else:
            chosen = first_any if first_any.seq < first_keyed.seq else first_keyed
        return chosen

    def in_order(self, queue: str) -> list[Want]:
        """The pending wants of `queue`, longest-waiting first."""
        wants = self._queues.get(queue)
        if wants is None:
            return []
        every = [*wants.any.values(), *(w for k in wants.keyed.values() for w in k.values())]
        return sorted(every, key=lambda want: want.seq)

    def waiting(self, queue: str) -> bool:
        """Whether any want is pending on `queue`."""
        return queue in self._queues

    def cancel_queue(self, queue: str) -> int:
        """Drop every want on `queue` (it was deleted); returns how many."""
        wants = self._queues.pop(queue, None)
        return 0 if wants is None else len(wants)

    def count(self, queue: str) -> int:
        wants = self._queues.get(queue)
        return 0 if wants is None else len(wants)


def _free(want: Want) -> bool:
    return not want.busy and want.consumer.takes_handoff()
