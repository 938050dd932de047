"""A reference model of the delivery contract (API.md Parts 2 and 3), written plainly
and apart from `disqueue.core.contract`, for the model test to hold every backend to.

One queue and its dead-letter queue, with an explicit clock: items with positions,
ready, delayed or leased; receipts by delivery; the dedup window; totals. The queue may
be ordered: each key (case-insensitively) a group, held while one of its items is in
flight or, given back with a delay, waits at the front; a take skips held groups, and a
leased one takes at most one item of each group. An ordered queue (the dead-letter queue
too may be one) delivers by position only, whatever the items' priorities.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

DEDUP_WINDOW = 300.0


@dataclass
class ModelItem:
    id: str
    value: str
    key: str | None
    pos: int
    attempts: int = 0
    visible_at: float | None = None
    ttl_at: float | None = None
    lease_until: float | None = None
    delivery: int = 0  # which delivery the live lease is (receipts name one)
    origin: str | None = None  # a dead letter: the queue it came from ("main")
    headers: dict[str, str] | None = None  # fixed at the put, kept wherever it goes
    priority: int = 0  # the same; the highest is taken first

    @property
    def leased(self) -> bool:
        return self.lease_until is not None


@dataclass
class Totals:
    put: int = 0
    taken: int = 0
    acked: int = 0
    expired: int = 0
    dead_lettered: int = 0


@dataclass
class ModelQueue:
    items: dict[str, ModelItem] = field(default_factory=dict)
    totals: Totals = field(default_factory=Totals)
    ordered: bool = False  # by position only (priority does not reorder it)

    def ready(self) -> list[ModelItem]:
        return sorted(
            (i for i in self.items.values() if not i.leased and i.visible_at is None),
            key=lambda i: (0 if self.ordered else -i.priority, i.pos),
        )

    def counts(self) -> tuple[int, int, int]:
        """Ready, delayed, in flight."""
        ready = sum(not i.leased and i.visible_at is None for i in self.items.values())
        delayed = sum(not i.leased and i.visible_at is not None for i in self.items.values())
        return ready, delayed, sum(i.leased for i in self.items.values())


def matches(item_key: str | None, key: str | None) -> bool:
    return key is None or (item_key is not None and item_key.lower() == key.lower())


@dataclass
class Model:
    """The queue `main` (with its settings) and its dead-letter queue `dlq`."""

    max_attempts: int | None
    dead_letter: bool
    max_items: int | None
    now: float
    retry_delays: tuple[float, ...] | None = None
    delay: float | None = None  # the queue's defaults for items put without their own
    ttl: float | None = None
    paused: bool = False  # main only: the dead-letter queue is never paused here
    ordered: bool = False  # main: each key a group (API.md Part 3, "Ordered keys")
    main: ModelQueue = field(default_factory=ModelQueue)
    dlq: ModelQueue = field(default_factory=ModelQueue)
    dedup: dict[str, tuple[str, float]] = field(default_factory=dict)
    _back: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _front: itertools.count[int] = field(default_factory=lambda: itertools.count(-1, -1))

    # -- put --------------------------------------------------------------------------

    def put(
        self, item_id: str, value: str, key: str | None, delay: float | None,
        ttl: float | None, dedup_id: str | None, headers: dict[str, str] | None = None,
        priority: int = 0,
    ) -> str | None:  # fmt: skip
        """The id answered, or None for `queue is full`. Without its own delay or ttl an
        item gets the queue's. (Headers refused are the test's to say: nothing changes.)"""
        delay = self.delay if delay is None else delay
        ttl = self.ttl if ttl is None else ttl
        if dedup_id is not None:
            claim = self.dedup.get(dedup_id)
            if claim is not None and claim[1] > self.now:
                return claim[0]
        if self.max_items is not None and len(self.main.items) + 1 > self.max_items:
            return None
        self.main.items[item_id] = ModelItem(
            item_id, value, key, next(self._back),
            visible_at=self.now + delay if delay else None,
            ttl_at=self.now + ttl if ttl is not None else None, headers=headers or None,
            priority=priority,
        )  # fmt: skip
        if dedup_id is not None:
            self.dedup[dedup_id] = (item_id, self.now + DEDUP_WINDOW)
        self.main.totals.put += 1
        return item_id

    def put_leased(self, item_id: str, value: str, key: str | None, lease: float) -> str | None:
        """A plain put stored straight in flight, its first delivery (a put handed to a
        consumer waiting with a lease): "no" where the queue's rules want it to wait its
        turn (paused, a default delay or ttl, ordered: the group check is the take's),
        "full" past max_items, else "leased"."""
        if self.paused or self.ordered or self.delay or self.ttl is not None:
            return "no"
        if self.put(item_id, value, key, None, None, None) is None:
            return "full"
        item = self.main.items[item_id]
        item.attempts = item.delivery = 1
        item.lease_until = self.now + lease
        self.main.totals.taken += 1
        return "leased"

    # -- take -------------------------------------------------------------------------

    def take(
        self, queue: ModelQueue, key: str | None, count: int, lease: float | None
    ) -> list[ModelItem]:
        if queue is self.main and self.paused:
            return []
        ready = [i for i in queue.ready() if matches(i.key, key)]
        if queue is self.main and self.ordered:  # held when the take starts
            held = self.held()
            ready = [i for i in ready if i.key is None or i.key.lower() not in held]
            if lease is not None:  # one item per group: the first holds it for the rest
                firsts = []
                for item in ready:
                    if item.key is None or item.key.lower() not in held:
                        firsts.append(item)
                    if item.key is not None:
                        held.add(item.key.lower())
                ready = firsts
        chosen = ready[:count]
        for item in chosen:
            if lease is None:
                del queue.items[item.id]
            else:
                item.attempts += 1
                item.delivery += 1
                item.lease_until = self.now + lease
        queue.totals.taken += len(chosen)
        return chosen

    def held(self) -> set[str]:
        """The groups of `main` held: a key with an item in flight, or one given back
        with a delay (a front position) that still waits."""
        return {
            i.key.lower()
            for i in self.main.items.values()
            if i.key is not None and (i.leased or (i.visible_at is not None and i.pos < 0))
        }

    def peek(self, key: str | None) -> ModelItem | None:
        # A pause stops deliveries, not looking; on an ordered queue, what a take gets.
        ready = [i for i in self.main.ready() if matches(i.key, key)]
        if self.ordered:
            held = self.held()
            ready = [i for i in ready if i.key is None or i.key.lower() not in held]
        return ready[0] if ready else None

    # -- the ends of a lease ---------------------------------------------------------------

    def live(self, item_id: str, delivery: int | None) -> ModelItem | None:
        """The item whose live lease (item_id, delivery) names; delivery None: any."""
        item = self.main.items.get(item_id)
        if item is None or item.lease_until is None or item.lease_until <= self.now:
            return None
        if delivery is not None and delivery != item.delivery:
            return None
        return item

    def ack(self, item: ModelItem) -> None:
        del self.main.items[item.id]
        self.main.totals.acked += 1

    def touch(self, item: ModelItem, lease: float) -> float:
        item.lease_until = self.now + lease
        return item.lease_until

    def give_back(self, item: ModelItem, delay: float | None) -> None:
        """A lease ended without an ack (released with `delay`, or with none: None)."""
        item.lease_until = None
        if item.ttl_at is not None and item.ttl_at <= self.now:  # its ttl ended meanwhile
            del self.main.items[item.id]
            self.main.totals.expired += 1
            return
        if self.max_attempts is not None and item.attempts >= self.max_attempts:
            del self.main.items[item.id]
            self.main.totals.dead_lettered += 1
            if self.dead_letter:
                item.pos, item.ttl_at, item.visible_at = next(self._back), None, None
                item.origin = "main"
                self.dlq.items[item.id] = item
                self.dlq.totals.put += 1
            return
        if delay is None:  # the queue's retry delay for this delivery, if it has any
            delays = self.retry_delays or (0.0,)
            delay = delays[min(item.attempts, len(delays)) - 1]
        item.pos = next(self._front)
        item.visible_at = self.now + delay if delay > 0 else None

    def redrive(self, count: int | None) -> int:
        """The dead-letter queue's ready items, in take order, back to the back of `main`
        (every one came from there), attempts reset."""
        moved = self.dlq.ready()[:count]
        for item in moved:
            del self.dlq.items[item.id]
            item.pos, item.attempts, item.origin = next(self._back), 0, None
            self.main.items[item.id] = item
            self.main.totals.put += 1
        return len(moved)

    def purge(self, in_flight: bool) -> int:
        gone = [i.id for i in self.main.items.values() if in_flight or not i.leased]
        for item_id in gone:
            del self.main.items[item_id]
        return len(gone)

    # -- time ----------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the clock, then handle what is due: lease ends, then delay ends, then
        ttl ends, each by time (items going to the front together keep their order)."""
        self.now += seconds
        ended = [i for i in self.main.items.values() if i.leased and i.lease_until <= self.now]  # type: ignore[operator]
        for item in sorted(ended, key=lambda i: (i.lease_until, -i.pos)):
            self.give_back(item, None)
        for queue in (self.main, self.dlq):
            due = [
                i
                for i in queue.items.values()
                if i.visible_at is not None and i.visible_at <= self.now
            ]
            for item in sorted(due, key=lambda i: (i.visible_at, -i.pos if i.pos < 0 else i.pos)):
                item.pos = next(self._front) if item.pos < 0 else next(self._back)
                item.visible_at = None
            for item in list(queue.items.values()):
                if not item.leased and item.ttl_at is not None and item.ttl_at <= self.now:
                    del queue.items[item.id]
                    queue.totals.expired += 1
