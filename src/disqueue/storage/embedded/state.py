"""One queue's state in memory, its deadlines, and the one timer structure of a backend.

Both embedded backends keep this in memory and differ only in where values go
(a dict, or an SQLite file): the ready order (`QueueIndex`), the items in flight
(leased), the delayed items, the de-duplication window and the totals.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from disqueue.core import contract
from disqueue.models import QueueInfo, QueueSettings
from disqueue.storage.embedded.index import QueueIndex

Clock = Callable[[], float]

#: At most one put-time mark per queue per this many seconds (the age's precision).
MARK_EVERY = 1.0


@dataclass(slots=True)
class Lease:
    """An item in flight: where it is, how often it was delivered, until when, and the
    token of its delivery's receipt."""

    pos: int
    match: str | None
    attempts: int
    expires: float
    token: str
    # Set while the item goes back to its queue (or on to a dead-letter queue): it is
    # still counted in flight until storage has it queued again, but no longer leased.
    ending: bool = False


@dataclass(slots=True)
class QueueState:
    """Everything about one queue that is decided in memory."""

    id: int
    name: str
    created: datetime
    settings: QueueSettings
    index: QueueIndex = field(default_factory=QueueIndex)  # ready items: pos → key
    leases: dict[str, Lease] = field(default_factory=dict)  # in flight, by item id
    delayed: dict[int, str | None] = field(default_factory=dict)  # pos → key
    ttl: dict[int, float] = field(default_factory=dict)  # pos → when it is dropped
    origins: dict[int, str] = field(default_factory=dict)  # pos → queue a dead letter left
    dedup: dict[str, tuple[str, float]] = field(default_factory=dict)  # id → (item, until)
    put: int = 0
    taken: int = 0
    acked: int = 0
    expired: int = 0
    dead_lettered: int = 0
    deleted: bool = False
    paused: bool = False  # takes find nothing (API.md Part 3, "Pause")
    pending: int = 0  # items of puts on their way to storage (for `max_items`)
    # When items were put, sampled: (first position put after `time`, time). Positions
    # grow with time, so the head's age is the time of the last mark at or before it.
    marks: deque[tuple[int, float]] = field(default_factory=deque)
    since: float = 0.0  # items older than every mark (the time the state was made)
    # An ordered queue's held groups (`contract.holds_group`): lower-cased key → how many
    # of its items hold it: in flight (from the moment a take reserved them for a
    # lease, until storage has them back or gone) or delayed at the front after a lease
    # (until storage has them ready again). Kept where those start and end, so that a
    # take's look-up is O(1); a key is in it only while its count is above 0.
    holding: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        if self.settings.ordered:  # by position only (`contract.take_order`), and its
            self.index = QueueIndex(ordered=True)  # takes look for free groups' heads

    def hold(self, match: str | None) -> None:
        """One more item holds its group (an ordered queue's keyed item; else nothing)."""
        if match is not None and self.settings.ordered:
            self.holding[match] += 1

    def unhold(self, match: str | None) -> None:
        """One item of the group holds it no more."""
        if match is not None and self.settings.ordered:
            left = self.holding[match] - 1
            if left > 0:
                self.holding[match] = left
            else:
                del self.holding[match]

    def mark(self, pos: int, now: float) -> None:
        """Note that `pos` was put at `now` (cheap: one mark a second at most)."""
        if not self.marks or now - self.marks[-1][1] >= MARK_EVERY:
            self.oldest()  # forgets the marks behind the head
            self.marks.append((pos, now))

    def oldest(self) -> float | None:
        """When the oldest ready item was put (Unix time, to about a second). An item
        given back or loaded at start counts from the oldest mark, or from `since`."""
        head = self.index.oldest()
        if head is None:
            return None
        marks = self.marks
        while len(marks) > 1 and marks[1][0] <= head:
            marks.popleft()
        return marks[0][1] if marks else self.since

    def count(self) -> int:
        """Items held: ready, delayed and in flight (what `max_items` limits)."""
        return len(self.index) + len(self.delayed) + len(self.leases)

    def info(self) -> QueueInfo:
        return QueueInfo(
            self.name, self.created, self.settings, size=len(self.index),
            delayed=len(self.delayed), in_flight=len(self.leases), put=self.put,
            taken=self.taken, acked=self.acked, expired=self.expired,
            dead_lettered=self.dead_lettered, oldest=self.oldest(), paused=self.paused,
        )  # fmt: skip

    def remembered(self, dedup_id: str, now: float) -> str | None:
        """The item id a `dedup_id` stands for, while its window is open."""
        entry = self.dedup.get(dedup_id)
        if entry is None:
            return None
        if entry[1] <= now:
            del self.dedup[dedup_id]
            return None
        return entry[0]


class LeaseEnd(NamedTuple):
    """The lease of `item_id` (at `pos`) runs out at `when`, unless it moved since.
    (Deadlines are named tuples: a leased take makes one per item.)"""

    queue: QueueState
    item_id: str
    pos: int
    when: float
    kind: contract.Deadline = "lease"


class DelayEnd(NamedTuple):
    """The item at `pos` becomes ready at `when`."""

    queue: QueueState
    pos: int
    when: float
    kind: contract.Deadline = "delay"


class TtlEnd(NamedTuple):
    """The item at `pos` is dropped at `when` if it is still queued."""

    queue: QueueState
    pos: int
    when: float
    kind: contract.Deadline = "ttl"


Deadline = LeaseEnd | DelayEnd | TtlEnd


class LeasesEnd(NamedTuple):
    """The leases of one take, of `item_ids` at `positions`, run out at `when`: one
    entry of the heap for them all, each a `LeaseEnd` once due. (A lease ended before
    leaves its entry in the heap until then: one per item, at a worker's rate over a
    lease of 30 s, were a million live objects for the garbage collector to walk.)"""

    queue: QueueState
    item_ids: list[str]
    positions: list[int]
    when: float


def in_due_order(events: list[Deadline]) -> list[Deadline]:
    """Deadlines due together, in the order the contract handles them."""
    return sorted(events, key=lambda e: contract.due_order(e.kind, e.when, e.pos))


class Timers:
    """Every deadline of a backend (lease expiry, end of a delay, end of a ttl) in one
    heap, served by one timer handle set for the earliest; due events are handed to
    `fire` in one call. Times come from `clock` (a test may pass a fake one, and then
    ask for what is `due` itself)."""

    def __init__(self, fire: Callable[[list[Deadline]], None], clock: Clock) -> None:
        self._fire = fire
        self._clock = clock
        self._heap: list[tuple[float, int, Deadline | LeasesEnd]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for = float("inf")

    def at(self, event: Deadline | LeasesEnd) -> None:
        """Call `fire` with `event` at its time (or soon after)."""
        heapq.heappush(self._heap, (event.when, next(self._seq), event))
        if event.when < self._armed_for:
            self._arm()

    def _arm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self._armed_for = float("inf")
        if not self._heap:
            return
        when = self._heap[0][0]
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(max(0.0, when - self._clock()), self._run)
        self._armed_for = when

    def due(self) -> list[Deadline]:
        """Take every event due now off the heap, in the contract's order."""
        now = self._clock()
        due: list[Deadline] = []
        while self._heap and self._heap[0][0] <= now:
            event = heapq.heappop(self._heap)[2]
            if not isinstance(event, LeasesEnd):
                due.append(event)
                continue
            queue, when, leases = event.queue, event.when, event.queue.leases
            due += [
                LeaseEnd(queue, item_id, pos, when)
                for item_id, pos in zip(event.item_ids, event.positions, strict=True)
                if item_id in leases  # (else acked or released since: nothing to end)
            ]
        return in_due_order(due)

    def _run(self) -> None:
        self._handle = None
        self._armed_for = float("inf")
        due = self.due()
        self._arm()
        if due:
            self._fire(due)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._heap.clear()
