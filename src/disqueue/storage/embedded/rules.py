"""The delivery contract (`disqueue.core.contract`) over in-memory state, for the
embedded backends.

`RuleStorage` implements the `Storage` interface over `QueueState` (in memory) and a
`Persistence` (where values are kept: a dict, or an SQLite file through its writer
thread). The contract decides what happens; this module keeps the in-memory state in
step with the persistence, in the order that makes it safe:

- what removes an item from a queue (take, lease, purge, expiry) reserves it in
  memory first, so no other request can choose it, and restores it if persisting
  fails;
- what adds an item (put, release, a delay that ends) touches memory only after
  persisting returned, so nothing is handed out before it is durable.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Sequence

from disqueue.core import contract
from disqueue.core.contract import LeaseRef
from disqueue.errors import QueueFull, QueueNotFound, StorageFailure, TooMany
from disqueue.models import Item, NewItem, QueueInfo, QueueSettings, match_key, new_item_id
from disqueue.storage.common import NameChanges, Totals, decode_headers, encode_headers
from disqueue.storage.embedded.persistence import (
    NO_OPTIONS,
    LoadedDedup,
    LoadedItem,
    LoadedQueue,
    Persistence,
    Row,
    Stored,
)
from disqueue.storage.embedded.state import (
    Clock,
    Deadline,
    DelayEnd,
    Lease,
    LeaseEnd,
    LeasesEnd,
    QueueState,
    Timers,
    TtlEnd,
)

log = logging.getLogger("disqueue.storage")

#: After a deadline failed to persist, how long until it is tried again (seconds).
RETRY_DEADLINE = 1.0
#: Totals of the hot paths, made once.
PUT_ONE, ACKED_ONE = Totals(put=1), Totals(acked=1)


def _ignore(name: str) -> None:
    return None


class RuleStorage:
    """Queues with leases, receipts, delays, ttl, de-duplication and dead letters."""

    #: Every action decides in memory before its first wait (positions, claims, the
    #: items a take chooses), so actions started in an order take effect in that order
    #: even when they then wait on storage together: a WebSocket connection may run
    #: its messages concurrently (server/websocket.py).
    decides_at_once = True

    def __init__(self, persistence: Persistence, kind: str, clock: Clock = time.time) -> None:
        self.kind = kind
        self.clock = clock
        self.persistence = persistence
        #: Time per committed group, when the persistence measures it (`/metrics`).
        self.commits = getattr(persistence, "commits", None)
        self._queues: dict[str, QueueState] = {}
        self._changes = NameChanges()
        self._back = itertools.count(1)
        self._front = itertools.count(-1, -1)
        self._timers = Timers(self._due, clock)
        self._chores: set[asyncio.Task[None]] = set()
        #: Called with a queue's name when items become ready without a put (a lease
        #: returned, a delay ended, a dead letter arrived), so waiting consumers wake.
        self.on_ready: Callable[[str], None] = _ignore

    # -- life cycle -----------------------------------------------------------------

    async def open(self) -> None:
        for event in await self.persistence.open(self._restore):
            self._timers.at(event)

    async def check(self) -> None:
        await self.persistence.check()

    async def close(self) -> None:
        self._timers.close()
        if self._chores:
            await asyncio.gather(*self._chores, return_exceptions=True)
        await self.persistence.close()

    def _restore(
        self,
        queues: Iterable[LoadedQueue],
        items: Iterable[LoadedItem],
        dedup: Iterable[LoadedDedup],
    ) -> list[Deadline]:
        """Rebuild memory from what the persistence loaded (items ordered by position).
        May run outside the event loop (in a backend's own thread, row by row); returns
        the deadlines to arm once back on the loop. A deadline that passed while the
        server was down is handled at once, as a late one is."""
        now = self.clock()
        by_id: dict[int, QueueState] = {}
        for loaded in queues:
            state = QueueState(loaded.id, loaded.name, loaded.created, loaded.settings)
            state.since, state.paused = now, loaded.paused
            state.put, state.taken, state.acked, state.expired, state.dead_lettered = loaded.totals
            self._queues[loaded.name] = by_id[loaded.id] = state
        low, high = 0, 0
        deadlines: list[Deadline] = []
        for item in items:
            state = by_id[item.queue_id]
            pos, match = item.pos, match_key(item.key)
            if item.priority:
                state.index.priorities[pos] = item.priority
            if item.lease_until is not None:
                lease = Lease(pos, match, item.attempts, item.lease_until, item.token or "")
                state.leases[item.id] = lease
                state.hold(match)
                deadlines.append(LeaseEnd(state, item.id, pos, item.lease_until))
            elif item.visible_at is not None:
                state.delayed[pos] = match
                if contract.holds_group(False, item.visible_at, pos):
                    state.hold(match)
                deadlines.append(DelayEnd(state, pos, item.visible_at))
            else:
                state.index.add(pos, match)
            if item.dead_letter_from is not None:
                state.origins[pos] = item.dead_letter_from
            if item.ttl_at is not None:
                state.ttl[pos] = item.ttl_at
                deadlines.append(TtlEnd(state, pos, item.ttl_at))
            low = min(low, pos)
            high = pos  # rows come ordered by position
        for claim in dedup:
            if contract.dedup_open(claim.until, now) and claim.queue_id in by_id:
                by_id[claim.queue_id].dedup[claim.dedup_id] = (claim.item_id, claim.until)
        self._back = itertools.count(max(high, 0) + 1)
        self._front = itertools.count(low - 1, -1)
        return deadlines

    # -- queues -----------------------------------------------------------------------

    def _queue(self, name: str) -> QueueState:
        queue = self._queues.get(name)
        if queue is None or queue.deleted:
            raise QueueNotFound()
        return queue

    async def create_queue(
        self, name: str, settings: QueueSettings | None = None, max_queues: int | None = None
    ) -> bool:
        await self._changes.settled(name)
        if await self.exists(name):
            return False
        if max_queues is not None and await self.queue_count() >= max_queues:
            raise TooMany("too many queues")
        settings = settings or QueueSettings()
        created = QueueInfo.now()
        queue_id = await self._changes.run(name, self.persistence.create(name, created, settings))
        state = self._queues[name] = QueueState(queue_id, name, created, settings)
        state.since = self.clock()
        return True

    async def queues(self) -> list[str]:
        return [name for name, queue in self._queues.items() if not queue.deleted]

    async def queue_count(self) -> int:
        return sum(not queue.deleted for queue in self._queues.values())

    async def exists(self, name: str) -> bool:
        queue = self._queues.get(name)
        return queue is not None and not queue.deleted

    async def info(self, name: str) -> QueueInfo:
        return self._queue(name).info()

    async def settings(self, name: str) -> QueueSettings:
        return self._queue(name).settings

    async def change_settings(self, name: str, settings: QueueSettings) -> None:
        queue = self._queue(name)
        await self.persistence.change(queue.id, settings)
        queue.settings = settings

    async def redrive(self, name: str, to: str | None, count: int | None) -> int:
        """Ready dead letters, in take order, back to `to` or where each came from."""
        letters = self._queue(name)
        moves: list[tuple[int, QueueState, int, str | None]] = []
        for pos in letters.index.positions():
            if count is not None and len(moves) >= count:
                break
            target = self._queues.get(contract.redrive_target(letters.origins.get(pos), to) or "")
            if target is None or target.deleted or target is letters:
                continue  # nowhere to go: it stays
            moves.append((pos, target, next(self._back), letters.index.remove(pos)))  # reserved
        try:
            await self.persistence.redrive([(pos, q.id, new_pos) for pos, q, new_pos, _ in moves])
        except BaseException:
            for pos, _, _, match in reversed(moves):
                letters.index.restore(pos, match)
            raise
        now = self.clock()
        for pos, target, new_pos, match in moves:
            letters.origins.pop(pos, None)
            priority = letters.index.priorities.pop(pos, 0)
            letters.ttl.pop(pos, None)
            if priority:
                target.index.priorities[new_pos] = priority
            target.index.add(new_pos, match)
            target.mark(new_pos, now)
            self._count(target, Totals(put=1))
        for target in {id(q): q for _, q, _, _ in moves}.values():
            self.on_ready(target.name)
        return len(moves)

    async def pause(self, name: str, paused: bool) -> None:
        queue = self._queue(name)
        await self.persistence.pause(queue.id, paused)
        queue.paused = paused
        if not paused and len(queue.index):
            self.on_ready(name)

    async def paused(self, name: str) -> bool:
        return self._queue(name).paused

    async def delete_queue(self, name: str) -> None:
        await self._changes.settled(name)
        queue = self._queue(name)
        queue.deleted = True  # later requests see a missing queue at once
        held = [*queue.index.positions(), *queue.delayed, *(x.pos for x in queue.leases.values())]
        try:
            await self._changes.run(name, self.persistence.drop(queue.id, held))
        except BaseException:
            queue.deleted = False
            raise
        del self._queues[name]

    # -- putting ------------------------------------------------------------------------

    async def put_many(self, name: str, items: list[NewItem]) -> list[str]:
        """Store all of `items` or none; an item whose `dedup_id` was seen in the last
        five minutes is not stored again and answers with the first item's id."""
        queue = self._queue(name)
        now = self.clock()
        ids: list[str] = []
        rows: list[Row] = []
        dedup: list[tuple[str, str, float]] = []
        # Whether every item stored is unkeyed and plain (no option, no queue default):
        # they then enter the index together.
        unkeyed = not contract.defaults(queue.settings)
        for new in items:
            if new.dedup_id is not None:
                known = queue.remembered(new.dedup_id, now)
                if known is not None:
                    ids.append(known)
                    continue
            elif (
                unkeyed  # the queue has no defaults, and every item so far is plain
                and new.key is None
                and new.delay is None
                and new.ttl is None
                and new.headers is None
                and not new.priority
            ):
                # (tuple.__new__: a NamedTuple's own __new__ is a Python function)
                rows.append(
                    tuple.__new__(Row, (next(self._back), new.id, None, new.value, *NO_OPTIONS))
                )
                ids.append(new.id)
                continue
            unkeyed = False
            visible_at, ttl_at = contract.placement(new, queue.settings, now)
            rows.append(Row(next(self._back), new.id, new.key, new.value, 0, visible_at, ttl_at,
                            encode_headers(new.headers), new.priority))  # fmt: skip
            ids.append(new.id)
            if new.dedup_id is not None:
                until = contract.dedup_until(now)
                dedup.append((new.dedup_id, new.id, until))
                queue.dedup[new.dedup_id] = (new.id, until)  # reserved now
        if contract.full(queue.count() + queue.pending, len(rows), queue.settings):
            self._forget(queue, dedup)
            raise QueueFull()
        if not rows:
            return ids
        queue.pending += len(rows)
        try:
            await self.persistence.insert(queue.id, rows, dedup)
        except BaseException:
            self._forget(queue, dedup)
            raise
        finally:
            queue.pending -= len(rows)
        queue.mark(rows[0].pos, now)
        if unkeyed:
            queue.index.add_unkeyed([row.pos for row in rows])
            self._count(queue, Totals(put=len(rows)))
            if not queue.deleted:
                self.on_ready(name)
            return ids
        ready = False
        for row in rows:
            match = match_key(row.key)
            if row.priority:
                queue.index.priorities[row.pos] = row.priority
            if row.visible_at is not None:
                queue.delayed[row.pos] = match
                self._timers.at(DelayEnd(queue, row.pos, row.visible_at))
            else:
                queue.index.add(row.pos, match)
                ready = True
            if row.ttl_at is not None:
                queue.ttl[row.pos] = row.ttl_at
                self._timers.at(TtlEnd(queue, row.pos, row.ttl_at))
        self._count(queue, Totals(put=len(rows)))
        if ready and not queue.deleted:
            self.on_ready(name)
        return ids

    @staticmethod
    def _forget(queue: QueueState, dedup: list[tuple[str, str, float]]) -> None:
        for dedup_id, item_id, _ in dedup:
            if queue.dedup.get(dedup_id, ("",))[0] == item_id:
                del queue.dedup[dedup_id]

    async def put(self, name: str, item: Item) -> None:
        """`put_many` of one item without options: the hot path of the original protocol."""
        queue = self._queue(name)
        if item.priority or contract.defaults(queue.settings):  # not plain
            new = NewItem(item.value, item.key, id=item.id, headers=item.headers,
                          priority=item.priority)  # fmt: skip
            await self.put_many(name, [new])
            return
        if contract.full(queue.count() + queue.pending, 1, queue.settings):
            raise QueueFull()
        pos = next(self._back)
        queue.pending += 1
        try:
            headers = encode_headers(item.headers)
            row = Row(pos, item.id, item.key, item.value, 0, None, None, headers)
            await self.persistence.insert(queue.id, [row], [])
        finally:
            queue.pending -= 1
        queue.index.add(pos, match_key(item.key))
        queue.mark(pos, self.clock())
        self._count(queue, PUT_ONE)
        if not queue.deleted:
            self.on_ready(name)

    async def put_front(self, name: str, item: Item) -> None:
        """Give back an item taken without a lease that could not be delivered."""
        queue = self._queue(name)
        pos = next(self._front)
        row = Row(pos, item.id, item.key, item.value, item.attempts, None, None,
                  encode_headers(item.headers), item.priority)  # fmt: skip
        await self.persistence.insert(queue.id, [row], [])
        if item.priority:
            queue.index.priorities[pos] = item.priority
        queue.index.add(pos, match_key(item.key), front=True)
        self._count(queue, Totals(taken=-1))
        self.on_ready(name)

    async def put_leased(self, name: str, item: Item, lease: float) -> Item | None:
        """A plain put stored straight in flight for a consumer waiting with a lease:
        the insert and the lease are one write (one commit), so the put is answered and
        the item delivered after one fsync instead of two. At the back, as a put: when
        its lease ends it goes to the front, as any lease's item does."""
        queue = self._queue(name)
        settings = queue.settings
        if queue.paused or not contract.hands_off(settings) or contract.defaults(settings):
            return None  # it waits its turn in storage: the usual put, then a take
        if contract.full(queue.count() + queue.pending, 1, settings):
            raise QueueFull()
        now = self.clock()
        until = contract.lease_until(lease, now)
        token = new_item_id()
        pos = next(self._back)
        row = Row(pos, item.id, item.key, item.value, 1, None, None, encode_headers(item.headers),
                  0, until, token)  # fmt: skip
        queue.pending += 1
        try:
            await self.persistence.insert(queue.id, [row], [])
        finally:
            queue.pending -= 1
        queue.leases[item.id] = Lease(pos, match_key(item.key), 1, until, token)
        self._timers.at(LeaseEnd(queue, item.id, pos, until))
        self._count(queue, Totals(put=1, taken=1))
        return Item(item.value, item.key, item.id, 1, until, contract.receipt(item.id, token),
                    headers=item.headers)  # fmt: skip

    async def count_handoff(self, name: str) -> None:
        self._count(self._queue(name), Totals(put=1, taken=1))

    def _count(self, queue: QueueState, totals: Totals) -> None:
        queue.put += totals.put
        queue.taken += totals.taken
        queue.acked += totals.acked
        queue.expired += totals.expired
        queue.dead_lettered += totals.dead_lettered
        self.persistence.count(queue.id, totals)

    # -- taking ---------------------------------------------------------------------------

    async def take_many(
        self, name: str, key: str | None, count: int, lease: float | None = None
    ) -> list[Item]:
        """Up to `count` items, oldest first; leased (kept in flight) if `lease` is given."""
        queue = self._queue(name)
        if queue.paused:  # the contract's `takeable`: a paused queue delivers nothing
            return []
        match = match_key(key)
        now = self.clock()
        index, ttl = queue.index, queue.ttl
        chosen: list[tuple[int, str | None]] = []
        stale: list[tuple[int, str | None]] = []
        leased, ordered = lease is not None, queue.settings.ordered
        held = queue.holding  # an ordered queue's held groups (the contract's `group_free`)
        if ordered and match is not None:
            if not contract.group_free(match, held):
                count = 0  # the key's group is held: its head waits
            elif leased:
                count = 1  # one item per group
        free = ordered and match is None
        while (
            len(chosen) < count
            and (pos := index.free_head(held) if free else index.head(match)) is not None
        ):
            taken = (pos, index.remove(pos))  # reserved: nobody else gets it
            # Past its ttl, not yet dropped: it is not delivered (the contract's `takeable`).
            if ttl and contract.expired(ttl.get(pos), now):
                stale.append(taken)
            else:
                chosen.append(taken)
                if leased and ordered:  # in flight from now on: its group is held, for
                    queue.hold(taken[1])  # the rest of this take too (one item per group)
        if stale:
            try:
                await self._expire(queue, stale)
            except BaseException:
                self._unreserve(queue, chosen, leased)
                raise
        if not chosen:
            return []
        positions = [pos for pos, _ in chosen]
        until = contract.lease_until(lease, now) if lease is not None else None
        token = new_item_id() if until is not None else ""
        try:
            if until is None:
                stored = await self.persistence.take(positions)
            else:
                stored = await self.persistence.lease(positions, until, token)
        except StorageFailure:
            self._unreserve(queue, chosen, leased)  # nothing changed in storage
            raise
        items: list[Item] = []
        if until is not None:
            items = self._leased(queue, chosen, stored, until, token)
        for (pos, item_match), found in zip(chosen, stored, strict=True):
            if found is None:
                log.error("queue %s: item at %d vanished from storage", name, pos)
                if leased:
                    queue.unhold(item_match)
                continue
            if until is None:
                if ttl:
                    ttl.pop(pos, None)
                origin = queue.origins.pop(pos, None)
                priority = queue.index.priorities.pop(pos, 0)
                items.append(Item(found.value, found.key, found.id, dead_letter_from=origin,
                                  headers=decode_headers(found.headers),
                                  priority=priority))  # fmt: skip
        self._count(queue, Totals(taken=len(items)))
        return items

    def _leased(
        self,
        queue: QueueState,
        chosen: list[tuple[int, str | None]],
        stored: list[Stored | None],
        until: float,
        token: str,
    ) -> list[Item]:
        """The items of a leased take, in flight from now on under one deadline (an
        item storage did not have is left out: `take_many` says so)."""
        leases, origins, priorities = queue.leases, queue.origins, queue.index.priorities
        items, item_ids, positions = [], [], []
        for (pos, item_match), found in zip(chosen, stored, strict=True):
            if found is None:
                continue
            item_id, key, value, attempts, headers = found
            leases[item_id] = Lease(pos, item_match, attempts, until, token)
            item_ids.append(item_id)
            positions.append(pos)
            receipt = contract.receipt(item_id, token)
            items.append(Item(value, key, item_id, attempts, until, receipt, origins.get(pos),
                              decode_headers(headers), priorities.get(pos, 0)))  # fmt: skip
        if item_ids:
            self._timers.at(LeasesEnd(queue, item_ids, positions, until))
        return items

    @staticmethod
    def _unreserve(queue: QueueState, chosen: list[tuple[int, str | None]], leased: bool) -> None:
        """Items a take reserved and did not take after all: back in their places."""
        for pos, item_match in reversed(chosen):
            queue.index.restore(pos, item_match)
            if leased:
                queue.unhold(item_match)

    async def take(self, name: str, key: str | None, lease: float | None = None) -> Item | None:
        items = await self.take_many(name, key, 1, lease)
        return items[0] if items else None

    def _head(self, queue: QueueState, match: str | None) -> int | None:
        """The position a take would choose first (on an ordered queue: of a free group)."""
        if not queue.settings.ordered:
            return queue.index.head(match)
        held = queue.holding
        if match is not None:
            return queue.index.head(match) if contract.group_free(match, held) else None
        return queue.index.free_head(held)

    async def peek(self, name: str, key: str | None) -> Item | None:
        queue = self._queue(name)
        looked_at = None
        while (pos := self._head(queue, match_key(key))) is not None:
            if contract.expired(queue.ttl.get(pos), self.clock()):
                await self._expire(queue, [(pos, queue.index.remove(pos))])
                continue
            found = await self.persistence.peek(pos)
            if found is not None:
                return Item(
                    found.value, found.key, found.id, dead_letter_from=queue.origins.get(pos),
                    headers=decode_headers(found.headers),
                    priority=queue.index.priorities.get(pos, 0),
                )  # fmt: skip
            if pos == looked_at:  # still the head, and not in storage: they disagree
                raise StorageFailure(f"storage failure: item at {pos} is missing")
            looked_at = pos  # taken while we looked: look at the new head
        return None

    async def purge(self, name: str, in_flight: bool = False) -> int:
        """Drop every ready and delayed item, and with `in_flight` every item in flight
        (the contract's `purged`); a lease already on its way back is left to end."""
        queue = self._queue(name)
        ready = [(pos, queue.index.remove(pos)) for pos in queue.index.positions()]
        delayed, queue.delayed = queue.delayed, {}
        positions = [pos for pos, _ in ready] + list(delayed)
        leased = []
        if contract.purged(True, in_flight):
            leased = [(i, x) for i, x in queue.leases.items() if not x.ending]
            for item_id, lease in leased:
                del queue.leases[item_id]  # its receipt names nothing from now on
                positions.append(lease.pos)
        try:
            await self.persistence.delete(positions)
        except BaseException:  # nothing was dropped: everything back in its place
            for pos, match in reversed(ready):
                queue.index.restore(pos, match)
            queue.delayed.update(delayed)
            queue.leases.update(leased)
            raise
        for pos in positions:
            queue.ttl.pop(pos, None)
            queue.origins.pop(pos, None)
            queue.index.priorities.pop(pos, None)
        for pos, match in delayed.items():
            if contract.holds_group(False, 0.0, pos):
                queue.unhold(match)
        for _, lease in leased:
            queue.unhold(lease.match)
        return len(positions)

    async def _expire(self, queue: QueueState, reserved: list[tuple[int, str | None]]) -> None:
        """Drop ready items already taken out of the index, whose ttl ended."""
        try:
            await self.persistence.delete([pos for pos, _ in reserved])
        except BaseException:
            for pos, match in reversed(reserved):
                queue.index.restore(pos, match)
            raise
        for pos, _ in reserved:
            del queue.ttl[pos]
            queue.origins.pop(pos, None)
            queue.index.priorities.pop(pos, None)
        self._count(queue, Totals(expired=len(reserved)))

    # -- leases ----------------------------------------------------------------------------

    def _claim(self, queue: QueueState, refs: Sequence[LeaseRef]) -> list[Lease | None]:
        """For each of `refs`, the live lease it names, marked as ending (so that a
        second mention of the same lease in a batch names nothing), or None."""
        now = self.clock()
        claimed: list[Lease | None] = []
        for ref in refs:
            lease = queue.leases.get(ref.item_id)
            if (
                lease is None
                or lease.ending
                or not contract.lease_live(lease.expires, now)  # the deadline's to end
                or not contract.names_lease(ref, lease.token)
            ):
                claimed.append(None)
            else:
                lease.ending = True
                claimed.append(lease)
        return claimed

    async def ack(self, name: str, refs: Sequence[LeaseRef]) -> list[bool]:
        queue = self._queue(name)
        leases = self._claim(queue, refs)
        claimed = [(ref.item_id, lease) for ref, lease in zip(refs, leases, strict=True) if lease]
        if claimed:
            try:
                await self.persistence.delete([lease.pos for _, lease in claimed])
            except BaseException:
                for _, lease in claimed:
                    lease.ending = False
                self._rearm(queue, claimed)
                raise
            in_flight, origins, priorities = queue.leases, queue.origins, queue.index.priorities
            ordered = queue.settings.ordered  # (only its groups are held)
            for item_id, lease in claimed:
                del in_flight[item_id]
                if ordered:
                    queue.unhold(lease.match)
                origins.pop(lease.pos, None)
                priorities.pop(lease.pos, None)
            self._count(queue, ACKED_ONE if len(claimed) == 1 else Totals(acked=len(claimed)))
            self._freed(queue)
        return [lease is not None for lease in leases]

    def _freed(self, queue: QueueState) -> None:
        """Items left an ordered queue's flight: their groups may be free, so items are
        takeable that were not (no put made them so): wake its consumers."""
        if queue.settings.ordered and len(queue.index) and not queue.deleted:
            self.on_ready(queue.name)

    async def release(
        self, name: str, refs: Sequence[LeaseRef], delay: float | None = None
    ) -> list[bool]:
        """End leases early. The items go back to the front in the order of `refs` (the
        last is placed first), after `delay` (None: the queue's retry delay)."""
        queue = self._queue(name)
        leases = self._claim(queue, refs)
        claimed = [(ref.item_id, lease) for ref, lease in zip(refs, leases, strict=True) if lease]
        if len(claimed) == 1:  # the common case, without a task per lease
            try:
                await self._give_back(queue, *claimed[0], delay)
            except BaseException:
                self._rearm(queue, claimed)
                raise
        elif claimed:  # side by side, so that a durable store commits them together
            backs = [self._give_back(queue, item_id, lease, delay) for item_id, lease in claimed]
            results = await asyncio.gather(*reversed(backs), return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                self._rearm(queue, claimed)
                raise failures[0]
        return [lease is not None for lease in leases]

    def _rearm(self, queue: QueueState, claimed: list[tuple[str, Lease]]) -> None:
        """Leases an ack or release failed to end: their deadlines again, since one due
        meanwhile found them ending and skipped them (a lease already ended: at once)."""
        for item_id, lease in claimed:
            if queue.leases.get(item_id) is lease and not lease.ending:
                self._timers.at(LeaseEnd(queue, item_id, lease.pos, lease.expires))

    async def touch(
        self, name: str, refs: Sequence[LeaseRef], lease_seconds: float
    ) -> list[float | None]:
        """Move leases' ends. A touch does not mark its leases ending (as `_claim`
        does): an ack, release or touch of the same lease meanwhile still finds it."""
        queue = self._queue(name)
        now = self.clock()
        until = contract.lease_until(lease_seconds, now)
        leases: list[Lease | None] = []
        claimed: list[tuple[str, Lease, float]] = []  # (item id, lease, its end before)
        named: set[str] = set()
        for ref in refs:
            lease = queue.leases.get(ref.item_id)
            if (
                lease is None
                or lease.ending
                or not contract.lease_live(lease.expires, now)
                or not contract.names_lease(ref, lease.token)
                or ref.item_id in named  # a second mention names nothing
            ):
                leases.append(None)
            else:
                named.add(ref.item_id)
                leases.append(lease)
                claimed.append((ref.item_id, lease, lease.expires))
        for _, lease, _ in claimed:
            lease.expires = until  # the old end's deadline no longer matches
        try:
            if len(claimed) == 1:
                await self.persistence.touch(claimed[0][1].pos, until)
            elif claimed:
                await asyncio.gather(*(self.persistence.touch(x.pos, until) for _, x, _ in claimed))
        except BaseException:
            for item_id, lease, before in claimed:
                if lease.expires == until:
                    lease.expires = before
                    self._timers.at(LeaseEnd(queue, item_id, lease.pos, before))
            raise
        for item_id, lease, _ in claimed:
            self._timers.at(LeaseEnd(queue, item_id, lease.pos, until))
        return [until if lease is not None else None for lease in leases]

    async def _give_back(
        self, queue: QueueState, item_id: str, lease: Lease, delay: float | None
    ) -> None:
        """A lease ended without an ack: the contract's `after_lease` says where the
        item goes. The lease stays in `queue.leases` (ending) until storage has done it."""
        letters = self._queues.get(queue.settings.dead_letter or "")
        exists = letters is not None and not letters.deleted
        now = self.clock()
        ttl_at = queue.ttl.get(lease.pos)
        outcome = contract.after_lease(lease.attempts, queue.settings, delay, now, exists, ttl_at)
        if isinstance(outcome, contract.Expire):
            return await self._drop_leased(queue, item_id, lease, Totals(expired=1))
        if not isinstance(outcome, contract.Requeue):
            return await self._dead_letter(queue, item_id, lease, letters if exists else None)
        new_pos = next(self._front)
        lease.ending = True
        try:
            await self.persistence.requeue(lease.pos, new_pos, outcome.visible_at, lease.attempts)
        except BaseException:
            lease.ending = False
            raise
        del queue.leases[item_id]
        if not contract.holds_group(False, outcome.visible_at, new_pos):
            queue.unhold(lease.match)  # else, delayed at the front, it holds on
        self._move_ttl(queue, lease.pos, new_pos)
        if outcome.visible_at is not None:
            queue.delayed[new_pos] = lease.match
            self._timers.at(DelayEnd(queue, new_pos, outcome.visible_at))
        else:
            queue.index.add(new_pos, lease.match, front=True)
            self.on_ready(queue.name)

    def _move_ttl(self, queue: QueueState, pos: int, new_pos: int) -> None:
        """An item moved within its queue: its ttl (and where it came from) move too."""
        if pos in queue.origins:
            queue.origins[new_pos] = queue.origins.pop(pos)
        priorities = queue.index.priorities
        if pos in priorities:
            priorities[new_pos] = priorities.pop(pos)
        if pos in queue.ttl:
            ttl_at = queue.ttl[new_pos] = queue.ttl.pop(pos)
            self._timers.at(TtlEnd(queue, new_pos, ttl_at))

    async def _dead_letter(
        self, queue: QueueState, item_id: str, lease: Lease, letters: QueueState | None
    ) -> None:
        if letters is None:
            log.info("queue %s: item %s dropped after %d deliveries", queue.name, item_id,
                     lease.attempts)  # fmt: skip
            return await self._drop_leased(queue, item_id, lease, Totals(dead_lettered=1))
        lease.ending = True
        new_pos = next(self._back)
        try:
            await self.persistence.move(lease.pos, letters.id, new_pos, queue.name, lease.attempts)
        except BaseException:
            lease.ending = False
            raise
        if lease.pos in queue.index.priorities:
            letters.index.priorities[new_pos] = queue.index.priorities[lease.pos]
        letters.index.add(new_pos, lease.match)
        letters.origins[new_pos] = queue.name
        letters.mark(new_pos, self.clock())
        self._count(letters, Totals(put=1))
        self.on_ready(letters.name)
        del queue.leases[item_id]
        queue.unhold(lease.match)
        queue.ttl.pop(lease.pos, None)
        queue.origins.pop(lease.pos, None)
        queue.index.priorities.pop(lease.pos, None)
        self._count(queue, Totals(dead_lettered=1))
        self._freed(queue)

    async def _drop_leased(
        self, queue: QueueState, item_id: str, lease: Lease, counted: Totals
    ) -> None:
        lease.ending = True
        try:
            await self.persistence.delete([lease.pos])
        except BaseException:
            lease.ending = False
            raise
        del queue.leases[item_id]
        queue.unhold(lease.match)
        queue.ttl.pop(lease.pos, None)
        queue.origins.pop(lease.pos, None)
        queue.index.priorities.pop(lease.pos, None)
        self._count(queue, counted)
        self._freed(queue)

    # -- deadlines ---------------------------------------------------------------------------

    async def run_deadlines(self) -> None:
        """Handle every deadline due by the clock now, and what that made due (the timer
        does this on its own; a test that moves a fake clock calls it)."""
        while due := self._timers.due():
            await self._handle_due(due)

    def _due(self, events: list[Deadline]) -> None:
        task = asyncio.get_running_loop().create_task(self._handle_due(events))
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _handle_due(self, events: list[Deadline]) -> None:
        for event in events:
            if event.queue.deleted:
                continue
            try:
                await self._handle(event)
            except StorageFailure:
                log.error("deadline %s failed; trying again in a second", event.kind)
                self._timers.at(event._replace(when=self.clock() + RETRY_DEADLINE))

    async def _handle(self, event: Deadline) -> None:
        queue = event.queue
        if isinstance(event, LeaseEnd):
            lease = queue.leases.get(event.item_id)
            # Ended by `when` (a retry is the same event, later): not a lease touched since.
            if lease is not None and lease.expires <= event.when and not lease.ending:
                await self._give_back(queue, event.item_id, lease, None)
        elif isinstance(event, DelayEnd):
            await self._end_delay(queue, event.pos)
        else:
            await self._end_ttl(queue, event.pos)

    async def _end_delay(self, queue: QueueState, pos: int) -> None:
        """A delayed item becomes ready with a fresh position (`delay_end_front`)."""
        if pos not in queue.delayed:
            return
        # Reserved: a purge meanwhile does not see it; one at the front still holds its
        # group (`queue.holding`) until it is ready.
        match = queue.delayed.pop(pos)
        front = contract.delay_end_front(pos)
        new_pos = next(self._front) if front else next(self._back)
        try:
            await self.persistence.requeue(pos, new_pos, None)
        except BaseException:
            queue.delayed[pos] = match  # still delayed: the retry makes it ready
            raise
        self._move_ttl(queue, pos, new_pos)
        queue.index.add(new_pos, match, front=front)
        if front:
            queue.unhold(match)  # ready: its group's head
        else:
            queue.mark(new_pos, self.clock())
        self.on_ready(queue.name)

    async def _end_ttl(self, queue: QueueState, pos: int) -> None:
        """A queued item (ready or delayed) whose ttl ended is dropped; one in flight
        keeps its ttl for when it comes back."""
        if not contract.expired(queue.ttl.get(pos), self.clock()):
            return
        if pos in queue.index:
            await self._expire(queue, [(pos, queue.index.remove(pos))])
        elif pos in queue.delayed:
            match = queue.delayed.pop(pos)
            try:
                await self.persistence.delete([pos])
            except BaseException:
                queue.delayed[pos] = match  # back where it was: still delayed
                raise
            del queue.ttl[pos]
            queue.origins.pop(pos, None)
            queue.index.priorities.pop(pos, None)
            if contract.holds_group(False, 0.0, pos):
                queue.unhold(match)
            self._count(queue, Totals(expired=1))
            self._freed(queue)  # it may have held its group (delayed at the front)
