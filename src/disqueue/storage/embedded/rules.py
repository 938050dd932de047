"""The delivery rules of the embedded backends, written once.

`RuleStorage` implements the `Storage` interface over `QueueState` (in memory)
and a small set of persistence hooks that each backend provides: the memory
backend keeps values in a dict, the SQLite backend in a file through its writer
thread. The order of events is what makes it safe:

- what removes an item from a queue (take, lease, purge, expiry) reserves it in
  memory first, so no other request can choose it, and restores it if the hook
  fails;
- what adds an item (put, release, a delay that ends) touches memory only after
  the hook returned, so nothing is handed out before it is durable.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from disqueue.errors import QueueFull, QueueNotFound, StorageFailure, TooMany
from disqueue.models import Item, NewItem, QueueInfo, QueueSettings, match_key
from disqueue.storage.common import DEDUP_WINDOW, NameChanges, Totals
from disqueue.storage.embedded.persistence import Persistence, Row
from disqueue.storage.embedded.state import Lease, QueueState, Timers

log = logging.getLogger("disqueue.storage")


def _ignore(name: str) -> None:
    return None


class RuleStorage(Persistence):
    """Queues with leases, delays, ttl, de-duplication and dead letters."""

    kind: str

    def __init__(self) -> None:
        self._queues: dict[str, QueueState] = {}
        self._changes = NameChanges()
        self._back = itertools.count(1)
        self._front = itertools.count(-1, -1)
        self._timers = Timers(self._due)
        self._chores: set[asyncio.Task[None]] = set()
        #: Called with a queue's name when items become ready without a put (a lease
        #: returned, a delay ended, a dead letter arrived), so waiting consumers wake.
        self.on_ready: Callable[[str], None] = _ignore

    # -- life cycle -----------------------------------------------------------------

    async def check(self) -> None:
        """Memory is always there while the process runs; a backend with a remote
        part overrides this."""
        return None

    def _restore(
        self,
        queues: Iterable[tuple[int, str, datetime, QueueSettings, Totals]],
        items: Iterable[tuple[int, int, str, str | None, int, float | None, float | None,
                              float | None]],
        dedup: Iterable[tuple[int, str, str, float]],
    ) -> list[tuple[float, Any]]:  # fmt: skip
        """Rebuild memory from what a backend loaded (items ordered by position). May run
        outside the event loop (in a backend's own thread, reading row by row); returns
        the deadlines to arm with `_arm` once back on the loop."""
        by_id: dict[int, QueueState] = {}
        for queue_id, name, created, settings, totals in queues:
            state = QueueState(queue_id, name, created, settings)
            state.put, state.taken, state.acked, state.expired, state.dead_lettered = totals
            self._queues[name] = by_id[queue_id] = state
        now, low, high = time.time(), 0, 0
        deadlines: list[tuple[float, Any]] = []
        for pos, queue_id, item_id, key, attempts, lease_until, visible_at, ttl_at in items:
            state = by_id[queue_id]
            match = None if key is None else key.lower()
            if lease_until is not None:
                state.leases[item_id] = Lease(pos, match, attempts, lease_until)
                deadlines.append((lease_until, ("lease", state, item_id, lease_until)))
            elif visible_at is not None and visible_at > now:
                state.delayed[pos] = match
                deadlines.append((visible_at, ("delay", state, pos)))
            else:
                state.index.add(pos, match)
            if ttl_at is not None:
                state.ttl[pos] = ttl_at
                deadlines.append((ttl_at, ("ttl", state, pos)))
            if pos < low:
                low = pos
            high = pos  # rows come ordered by position
        for queue_id, dedup_id, item_id, until in dedup:
            if until > now and queue_id in by_id:
                by_id[queue_id].dedup[dedup_id] = (item_id, until)
        self._back = itertools.count(max(high, 0) + 1)
        self._front = itertools.count(low - 1, -1)
        return deadlines

    def _arm(self, deadlines: list[tuple[float, Any]]) -> None:
        for when, event in deadlines:
            self._timers.at(when, event)

    async def _stop_chores(self) -> None:
        self._timers.close()
        if self._chores:
            await asyncio.gather(*self._chores, return_exceptions=True)

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
        queue_id = await self._changes.run(name, self._p_create(name, created, settings))
        self._queues[name] = QueueState(queue_id, name, created, settings)
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

    async def delete_queue(self, name: str) -> None:
        await self._changes.settled(name)
        queue = self._queue(name)
        queue.deleted = True  # later requests see a missing queue at once
        held = [*queue.index.positions(), *queue.delayed, *(x.pos for x in queue.leases.values())]
        try:
            await self._changes.run(name, self._p_drop(queue.id, held))
        except BaseException:
            queue.deleted = False
            raise
        del self._queues[name]

    # -- putting ------------------------------------------------------------------------

    async def put_many(self, name: str, items: list[NewItem]) -> list[str]:
        """Store all of `items` or none; an item whose `dedup_id` was seen in the last
        five minutes is not stored again and answers with the first item's id."""
        queue = self._queue(name)
        now = time.time()
        ids: list[str] = []
        rows: list[Row] = []
        dedup: list[tuple[str, str, float]] = []
        for new in items:
            if new.dedup_id is not None:
                known = queue.remembered(new.dedup_id, now)
                if known is not None:
                    ids.append(known)
                    continue
            visible_at = now + new.delay if new.delay > 0 else None
            ttl_at = now + new.ttl if new.ttl is not None else None
            rows.append(Row(next(self._back), new.id, new.key, new.value, 0, visible_at, ttl_at))
            ids.append(new.id)
            if new.dedup_id is not None:
                dedup.append((new.dedup_id, new.id, now + DEDUP_WINDOW))
                queue.dedup[new.dedup_id] = (new.id, now + DEDUP_WINDOW)  # reserved now
        limit = queue.settings.max_items
        if limit is not None and queue.count() + queue.pending + len(rows) > limit:
            self._forget(queue, dedup)
            raise QueueFull()
        if not rows:
            return ids
        queue.pending += len(rows)
        try:
            await self._p_insert(queue.id, rows, dedup)
        except BaseException:
            self._forget(queue, dedup)
            raise
        finally:
            queue.pending -= len(rows)
        ready = False
        queue.mark(rows[0].pos, now)
        for row in rows:
            match = match_key(row.key)
            if row.visible_at is not None:
                queue.delayed[row.pos] = match
                self._timers.at(row.visible_at, ("delay", queue, row.pos))
            else:
                queue.index.add(row.pos, match)
                ready = True
            if row.ttl_at is not None:
                queue.ttl[row.pos] = row.ttl_at
                self._timers.at(row.ttl_at, ("ttl", queue, row.pos))
        queue.put += len(rows)
        self._p_count(queue.id, Totals(put=len(rows)))
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
        limit = queue.settings.max_items
        if limit is not None and queue.count() + queue.pending >= limit:
            raise QueueFull()
        pos = next(self._back)
        queue.pending += 1
        try:
            await self._p_insert(
                queue.id, [Row(pos, item.id, item.key, item.value, 0, None, None)], []
            )
        finally:
            queue.pending -= 1
        queue.index.add(pos, match_key(item.key))
        queue.mark(pos, time.time())
        queue.put += 1
        self._p_count(queue.id, Totals(put=1))
        if not queue.deleted:
            self.on_ready(name)

    async def put_front(self, name: str, item: Item) -> None:
        """Give back an item taken without a lease that could not be delivered."""
        queue = self._queue(name)
        pos = next(self._front)
        row = Row(pos, item.id, item.key, item.value, item.attempts, None, None)
        await self._p_insert(queue.id, [row], [])
        queue.index.add(pos, match_key(item.key), front=True)
        queue.taken -= 1
        self._p_count(queue.id, Totals(taken=-1))
        self.on_ready(name)

    async def count_handoff(self, name: str) -> None:
        queue = self._queue(name)
        queue.put += 1
        queue.taken += 1
        self._p_count(queue.id, Totals(put=1, taken=1))

    # -- taking ---------------------------------------------------------------------------

    async def take_many(
        self, name: str, key: str | None, count: int, lease: float | None = None
    ) -> list[Item]:
        """Up to `count` items, oldest first; leased (kept in flight) if `lease` is given."""
        queue = self._queue(name)
        match = match_key(key)
        chosen: list[tuple[int, str | None]] = []
        while len(chosen) < count and (pos := queue.index.head(match)) is not None:
            chosen.append((pos, queue.index.remove(pos)))  # reserved: nobody else gets it
        if not chosen:
            return []
        positions = [pos for pos, _ in chosen]
        until = time.time() + lease if lease is not None else None
        try:
            if until is None:
                stored = await self._p_take(positions)
            else:
                stored = await self._p_lease(positions, until)
        except StorageFailure:
            for pos, item_match in reversed(chosen):
                queue.index.restore(pos, item_match)  # nothing changed in storage
            raise
        items = []
        for (pos, item_match), found in zip(chosen, stored, strict=True):
            if found is None:
                log.error("queue %s: item at %d vanished from storage", name, pos)
                continue
            queue.ttl.pop(pos, None)
            if until is None:
                items.append(Item(found.value, found.key, found.id))
            else:
                queue.leases[found.id] = Lease(pos, item_match, found.attempts, until)
                self._timers.at(until, ("lease", queue, found.id, until))
                items.append(Item(found.value, found.key, found.id, found.attempts, until))
        queue.taken += len(items)
        self._p_count(queue.id, Totals(taken=len(items)))
        return items

    async def take(self, name: str, key: str | None, lease: float | None = None) -> Item | None:
        items = await self.take_many(name, key, 1, lease)
        return items[0] if items else None

    async def peek(self, name: str, key: str | None) -> Item | None:
        queue = self._queue(name)
        looked_at = None
        while (pos := queue.index.head(match_key(key))) is not None:
            found = await self._p_peek(pos)
            if found is not None:
                return Item(found.value, found.key, found.id)
            if pos == looked_at:  # still the head, and not in storage: they disagree
                raise StorageFailure(f"storage failure: item at {pos} is missing")
            looked_at = pos  # taken while we looked: look at the new head
        return None

    async def purge(self, name: str) -> int:
        """Drop every ready and delayed item (not those in flight)."""
        queue = self._queue(name)
        positions = queue.index.positions()
        for pos in positions:
            queue.index.remove(pos)
        delayed, queue.delayed = queue.delayed, {}
        positions += list(delayed)
        for pos in positions:
            queue.ttl.pop(pos, None)
        await self._p_delete(positions)
        return len(positions)

    # -- leases ----------------------------------------------------------------------------

    def _live_lease(self, name: str, item_id: str) -> tuple[QueueState, Lease] | None:
        queue = self._queue(name)
        lease = queue.leases.get(item_id)
        if lease is None or lease.ending or lease.expires <= time.time():
            return None  # an expired lease is the timer's to return
        return queue, lease

    async def ack(self, name: str, item_id: str) -> bool:
        found = self._live_lease(name, item_id)
        if found is None:
            return False
        queue, lease = found
        lease.ending = True
        try:
            await self._p_delete([lease.pos])
        except BaseException:
            lease.ending = False
            raise
        del queue.leases[item_id]
        queue.acked += 1
        self._p_count(queue.id, Totals(acked=1))
        return True

    async def release(self, name: str, item_id: str, delay: float = 0.0) -> bool:
        found = self._live_lease(name, item_id)
        if found is None:
            return False
        queue, lease = found
        await self._give_back(queue, item_id, lease, delay)
        return True

    async def touch(self, name: str, item_id: str, lease_seconds: float) -> float | None:
        found = self._live_lease(name, item_id)
        if found is None:
            return None
        queue, lease = found
        before, lease.expires = lease.expires, time.time() + lease_seconds
        try:
            await self._p_touch(lease.pos, lease.expires)
        except BaseException:
            lease.expires = before
            raise
        self._timers.at(lease.expires, ("lease", queue, item_id, lease.expires))
        return lease.expires

    async def _give_back(self, queue: QueueState, item_id: str, lease: Lease, delay: float) -> None:
        """A lease ended without an ack: back to the front of the queue (after `delay`),
        or, after the queue's `max_attempts`-th delivery, to its dead-letter queue. The
        lease stays in `queue.leases` (ending) until storage has done it."""
        limit = queue.settings.max_attempts
        if limit is not None and lease.attempts >= limit:
            return await self._dead_letter(queue, item_id, lease)
        new_pos = next(self._front)
        visible_at = time.time() + delay if delay > 0 else None
        lease.ending = True
        try:
            await self._p_requeue(lease.pos, new_pos, visible_at)
        except BaseException:
            lease.ending = False
            raise
        del queue.leases[item_id]
        if lease.pos in queue.ttl:
            queue.ttl[new_pos] = queue.ttl.pop(lease.pos)
            self._timers.at(queue.ttl[new_pos], ("ttl", queue, new_pos))
        if visible_at is not None:
            queue.delayed[new_pos] = lease.match
            self._timers.at(visible_at, ("delay", queue, new_pos))
        else:
            queue.index.add(new_pos, lease.match, front=True)
            self.on_ready(queue.name)

    async def _dead_letter(self, queue: QueueState, item_id: str, lease: Lease) -> None:
        target = queue.settings.dead_letter
        letters = self._queues.get(target) if target is not None else None
        lease.ending = True
        try:
            if letters is None or letters.deleted:
                await self._p_delete([lease.pos])
                log.info("queue %s: item %s dropped after %d deliveries", queue.name, item_id,
                         lease.attempts)  # fmt: skip
            else:
                new_pos = next(self._back)
                await self._p_move(lease.pos, letters.id, new_pos)
                letters.index.add(new_pos, lease.match)
                letters.mark(new_pos, time.time())
                letters.put += 1
                self._p_count(letters.id, Totals(put=1))
                self.on_ready(letters.name)
        except BaseException:
            lease.ending = False
            raise
        del queue.leases[item_id]
        queue.ttl.pop(lease.pos, None)
        queue.dead_lettered += 1
        self._p_count(queue.id, Totals(dead_lettered=1))

    # -- deadlines ---------------------------------------------------------------------------

    def _due(self, events: list[Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._handle_due(events))
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _handle_due(self, events: list[Any]) -> None:
        for event in events:
            try:
                await self._handle_event(event)
            except StorageFailure:
                log.error("deadline %s failed; trying again in a second", event[0])
                self._timers.at(time.time() + 1.0, event)

    async def _handle_event(self, event: Any) -> None:
        kind, queue = event[0], event[1]
        if queue.deleted:
            return
        if kind == "lease":
            _, _, item_id, until = event
            lease = queue.leases.get(item_id)
            if lease is not None and lease.expires == until and not lease.ending:
                await self._give_back(queue, item_id, lease, 0.0)
        elif kind == "delay":
            pos = event[2]
            if pos in queue.delayed:
                queue.index.add(pos, queue.delayed.pop(pos), front=pos < 0)
                self.on_ready(queue.name)
        elif kind == "ttl":
            pos = event[2]
            if queue.ttl.get(pos, float("inf")) > time.time():
                return
            if pos in queue.index:
                match = queue.index.remove(pos)
            elif pos in queue.delayed:
                match = queue.delayed.pop(pos)
            else:
                return  # in flight or gone: a ttl is for queued items
            try:
                await self._p_delete([pos])
            except BaseException:
                queue.index.restore(pos, match)
                raise
            del queue.ttl[pos]
            queue.expired += 1
            self._p_count(queue.id, Totals(expired=1))
