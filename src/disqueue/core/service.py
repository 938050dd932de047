"""The queue service: the protocol's actions over a storage backend.

It knows the rules that involve more than storage: queue names, limits, and
wants (consumers waiting on a WebSocket or a long poll). A plain put first looks
for a waiting want without a lease and hands the item over instead of storing it
(API.md Part 1). Everything else is stored first; when items become ready the
storage tells the core, which serves the waiting wants from storage (with their
leases) in the order they arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import Any

from disqueue.config import Limits
from disqueue.core import contract
from disqueue.core.contract import LeaseRef
from disqueue.core.stats import QueueStats, Stats, queue_info
from disqueue.core.wants import Consumer, Want, WantRegistry
from disqueue.errors import (
    BadRequest,
    Conflict,
    DisqueueError,
    NoItem,
    NoSuchLease,
    NotFound,
    QueueNotFound,
    StorageUnavailable,
    TooLarge,
)
from disqueue.latency import Latencies
from disqueue.models import Item, NewItem, NodeInfo, QueueSettings, match_key
from disqueue.names import QueueNames
from disqueue.storage.base import Storage

log = logging.getLogger("disqueue.core")

#: How often a long poll looks whether its client hung up (seconds).
HANG_UP_CHECK = 0.2
#: How long a health check waits for storage before calling it unavailable (seconds).
HEALTH_TIMEOUT = 5.0


def _ref(lease: LeaseRef | str) -> LeaseRef:
    return LeaseRef(lease) if isinstance(lease, str) else lease


def lease_of(item: Item) -> LeaseRef:
    """The lease of a leased item as delivered: its receipt's, exactly."""
    ref = contract.parse_receipt(item.receipt) if item.receipt is not None else None
    return ref if ref is not None else LeaseRef(item.id)


def _utf8_size(text: str) -> int:
    # A character is at most 4 bytes in UTF-8: skip the encoding when it cannot matter.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class _Poll:
    """The consumer behind a long-polling take: the first item ends the wait."""

    def __init__(self) -> None:
        self.item: asyncio.Future[Item] = asyncio.get_running_loop().create_future()

    def deliver(self, want: Want, item: Item, written: asyncio.Future[None] | None) -> bool:
        if self.item.done():
            return False
        self.item.set_result(item)
        if written is not None:
            written.set_result(None)
        return True

    def takes_handoff(self) -> bool:
        return True  # the answer goes out as the request's response


class QueueService:
    """Everything a transport may ask of the queues."""

    def __init__(self, storage: Storage, names: QueueNames, limits: Limits) -> None:
        self.storage = storage
        self.names = names
        self.limits = limits
        # Wants without a lease can take a put by hand-off; leased ones are served from
        # storage. Both are served in arrival order when items become ready.
        self.wants = WantRegistry()
        self.leased_wants = WantRegistry()
        self._serving: dict[str, asyncio.Task[None]] = {}
        self._wakes: dict[str, int] = {}  # per queue: how often items became ready
        # Per queue: deliveries of items delivered before (attempts > 1), since this
        # process started (a rate's source, like `consumers` one node's own).
        self._redelivered: dict[str, int] = {}
        self._creating = asyncio.Lock()  # serialises creates while `max_queues` is set
        self._again: set[str] = set()
        storage.on_ready = self._wake

    @property
    def decides_at_once(self) -> bool:
        """Whether every action decides its effect before its first wait (the embedded
        backends), so that a transport may run one connection's messages side by side
        without reordering their effects. (The edges ask this, not the storage.)"""
        return bool(getattr(self.storage, "decides_at_once", False))

    # -- queues -----------------------------------------------------------------

    async def create_queue(
        self,
        name: str | None = None,
        settings: QueueSettings | None = None,
        given: Collection[str] = (),
    ) -> str:
        """Create a queue (a new random name without `name`). An existing name is
        returned as it is, its settings unchanged, if no settings or its own are given;
        other settings are `409 queue exists with other settings`. `given`: the settings
        the request named, even at their default value (an explicit `ordered=0` differs
        from an ordered queue); `ordered` not named is not compared."""
        name = self.names.generate() if name is None else self.names.parse(name)
        settings = settings or QueueSettings()
        named = frozenset(given) | ({"ordered"} if settings.ordered else set())
        compared = settings != QueueSettings() or bool(named)
        if await self.storage.exists(name):
            if compared:
                await self._same(name, await self._checked(name, settings), named)
            return name
        settings = await self._checked(name, settings)
        limit = self.limits.max_queues
        if limit is None:
            created = await self.storage.create_queue(name, settings)
        else:
            async with self._creating:  # the count and the create, as one step here
                created = await self.storage.create_queue(name, settings, max_queues=limit)
        if not created and compared:  # made meanwhile by another request
            await self._same(name, settings, named)
        return name

    async def _checked(self, name: str, settings: QueueSettings) -> QueueSettings:
        """`settings` with the dead-letter queue's name canonical; a queue may not be its
        own dead-letter queue, and its dead-letter queue must exist."""
        if settings.dead_letter is None:
            return settings
        letters = self.names.parse(settings.dead_letter)
        if letters == name:
            raise BadRequest("invalid parameter 'dead_letter'")
        if not await self.storage.exists(letters):
            raise NotFound("dead letter queue does not exist")
        return replace(settings, dead_letter=letters)

    async def _same(self, name: str, settings: QueueSettings, named: Collection[str]) -> None:
        """409 unless the queue has `settings` (its `ordered` unless `named`)."""
        current = await self.storage.settings(name)
        if "ordered" not in named:
            settings = replace(settings, ordered=current.ordered)
        if current != settings:
            raise Conflict()

    async def change_settings(self, name: str, **changes: Any) -> dict[str, Any]:
        """Change some of a queue's settings (None clears one), at once and for items
        already queued too; its information. The items' delays and ttls, fixed at their
        put, stay as they are."""
        name = self.names.parse(name)
        if "ordered" in changes:
            raise BadRequest("invalid parameter 'ordered': it cannot change")
        current = await self.storage.settings(name)
        settings = await self._checked(name, replace(current, **changes))
        await self.storage.change_settings(name, settings)
        return await self.info(name)

    async def queues(self) -> list[str]:
        return await self.storage.queues()

    async def info(self, name: str) -> dict[str, Any]:
        name = self.names.parse(name)
        return queue_info(await self.storage.info(name), self.consumers(name))

    def consumers(self, name: str) -> int:
        """How many wants wait on `name` (WebSocket and long polls)."""
        return self.wants.count(name) + self.leased_wants.count(name)

    async def stats(self) -> Stats:
        """Every queue's counts and totals, read now."""
        at, queues = time.time(), []
        for name in await self.storage.queues():
            with contextlib.suppress(QueueNotFound):  # deleted meanwhile
                info = await self.storage.info(name)
                queues.append(QueueStats.of(info, self.consumers(name), at,
                                            self._redelivered.get(name, 0)))  # fmt: skip
        commits = getattr(self.storage, "commits", None)
        snapshot = commits.snapshot() if isinstance(commits, Latencies) else None
        return Stats(at, self.storage.kind, queues, snapshot)

    async def nodes(self) -> list[NodeInfo] | None:
        """The live nodes sharing the storage, None for storage of one node (embedded):
        only PostgreSQL's has the method. Asked by `GET /stats` alone, not by the
        history's sampler."""
        listed = getattr(self.storage, "nodes", None)
        if listed is None:
            return None
        nodes: list[NodeInfo] = await listed()
        return nodes

    async def check(self) -> None:
        """Raise `StorageUnavailable` unless storage is ready and answers in time."""
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                await self.storage.check()
        except TimeoutError as exc:
            raise StorageUnavailable(f"storage did not answer within {HEALTH_TIMEOUT:g} s") from exc

    async def delete_queue(self, name: str) -> None:
        """Drop the queue, its items, and (silently) the wants waiting on it."""
        name = self.names.parse(name)
        await self.storage.delete_queue(name)
        self.wants.cancel_queue(name)
        self.leased_wants.cancel_queue(name)
        self._wakes.pop(name, None)
        self._redelivered.pop(name, None)

    async def purge(self, name: str, *, in_flight: bool = False) -> int:
        """Drop every ready and delayed item (with `in_flight`, those in flight too)."""
        return await self.storage.purge(self.names.parse(name), in_flight=in_flight)

    async def redrive(self, name: str, to: str | None = None, count: int | None = None) -> int:
        """Send up to `count` (None: all) ready items of the dead-letter queue `name`,
        oldest first, to `to` or back where each came from, attempts reset; how many.
        Without `to`, `name` must be some queue's dead-letter queue."""
        name = self.names.parse(name)
        await self.storage.settings(name)  # raises QueueNotFound
        if to is not None:
            to = self.names.parse(to)
            if to == name:
                raise BadRequest("invalid parameter 'to'")
            await self.storage.settings(to)  # raises QueueNotFound
        elif not await self._letters_of_some(name):
            raise BadRequest("not a dead-letter queue")
        return await self.storage.redrive(name, to, count)

    async def _letters_of_some(self, name: str) -> bool:
        """Whether some queue names `name` as its dead-letter queue."""
        return bool(await self.dead_letter_sources(name))

    async def dead_letter_sources(self, name: str) -> list[str]:
        """The queues that name `name` as their dead-letter queue, oldest first."""
        name = self.names.parse(name)
        sources = []
        for queue in await self.storage.queues():
            with contextlib.suppress(QueueNotFound):  # deleted meanwhile
                if (await self.storage.settings(queue)).dead_letter == name:
                    sources.append(queue)
        return sources

    async def settings(self, name: str) -> QueueSettings:
        """The queue's settings (raises `QueueNotFound`)."""
        return await self.storage.settings(self.names.parse(name))

    async def pause(self, name: str) -> None:
        """Stop deliveries from `name` (puts go on; leases in flight run on)."""
        await self.storage.pause(self.names.parse(name), True)

    async def resume(self, name: str) -> None:
        """Deliver from `name` again; its waiting wants are served at once."""
        await self.storage.pause(self.names.parse(name), False)

    # -- put ----------------------------------------------------------------------

    def check_item(
        self, value: str, key: str | None, headers: dict[str, str] | None = None, priority: int = 0
    ) -> None:
        if priority not in contract.PRIORITIES:
            raise BadRequest("invalid parameter 'priority'")
        fault = None if headers is None else contract.headers_fault(headers)
        if fault is not None:
            raise BadRequest(f"invalid parameter 'headers': {fault}")
        if _utf8_size(value) > self.limits.max_value_bytes:
            raise TooLarge("value too large")
        if key is not None and _utf8_size(key) > self.limits.max_key_bytes:
            raise TooLarge("key too large")

    async def put(self, name: str, item: NewItem) -> str:
        """Store an item, or hand a plain one straight to the longest-waiting want."""
        name = self.names.parse(name)
        self.check_item(item.value, item.key, item.headers, item.priority)
        if item.priority:
            await self._priority_allowed(name, [item], batch=False)
        plain = (
            item.delay is None
            and item.ttl is None
            and item.dedup_id is None
            and not item.headers
            and not item.priority
        )
        if plain and self.wants.waiting(name) and await self._may_hand_off(name):
            # The put is answered once the item is written to the consumer (or, if that
            # failed, stored again): an acknowledged put never sits only in a buffer.
            written = asyncio.get_running_loop().create_future()
            if self._hand_off(name, Item(item.value, item.key, item.id), written):
                await self.storage.count_handoff(name)
                await written
                return item.id
        if plain and self.leased_wants.waiting(name) and await self._hand_off_leased(name, item):
            return item.id
        if plain:
            await self.storage.put(name, Item(item.value, item.key, item.id))
            return item.id
        (item_id,) = await self.storage.put_many(name, [item])
        return item_id

    async def _hand_off_leased(self, name: str, item: NewItem) -> bool:
        """Give a plain put to the longest-waiting want with a lease: storage keeps it
        in flight for that want from the start (`Storage.put_leased`, one write), and it
        is delivered then. The put is answered once it is stored, as any put: it is in
        flight under a lease, so if the delivery fails it is released and comes again.
        False, with nothing stored, when no want takes it or storage would rather the
        item waited its turn."""
        plain = Item(item.value, item.key, item.id)
        want = self.leased_wants.first_match(name, plain)
        if want is None or want.lease is None:
            return False
        wakes = self._wakes.get(name, 0)
        want.busy = True  # takes and other puts pass it over while storage writes
        try:
            leased = await self.storage.put_leased(name, plain, want.lease)
        finally:
            want.busy = False
            if self._wakes.get(name, 0) != wakes:
                self._wake(name)  # items became ready while the want was busy
        if leased is None:
            return False
        if not (self.leased_wants.pending(want) and self._deliver(want, leased, None)):
            await self.give_back(name, leased)  # the want went away meanwhile
        return True

    async def _may_hand_off(self, name: str) -> bool:
        """Whether a plain put may go straight to a waiting want: not while the queue is
        paused (its wants wait for the resume), nor when it delays its items."""
        settings = await self.storage.settings(name)  # raises QueueNotFound
        return contract.hands_off(settings) and not await self.storage.paused(name)

    async def _priority_allowed(self, name: str, items: list[NewItem], *, batch: bool) -> None:
        """Refuse items with a priority on an ordered queue (`contract.priority_allowed`)."""
        settings = await self.storage.settings(name)  # raises QueueNotFound
        for index, item in enumerate(items):
            if not contract.priority_allowed(item.priority, settings):
                invalid = "invalid parameter 'priority'"
                raise BadRequest(f"items[{index}]: {invalid}" if batch else invalid)

    async def put_many(self, name: str, items: list[NewItem]) -> list[str]:
        """Store all of `items` or none."""
        most = self.limits.max_value_bytes // 4  # characters that fit whatever they are
        for index, item in enumerate(items):
            plain = item.key is None and item.headers is None and not item.priority
            if plain and len(item.value) <= most:
                continue  # a plain item within every limit (the usual one)
            try:
                self.check_item(item.value, item.key, item.headers, item.priority)
            except DisqueueError as exc:
                raise BadRequest(f"items[{index}]: {exc.message}") from exc
        name = self.names.parse(name)
        if any(item.priority for item in items):
            await self._priority_allowed(name, items, batch=True)
        return await self.storage.put_many(name, items)

    # -- take -----------------------------------------------------------------------

    async def _lease_for(self, name: str, lease: float | None) -> float | None:
        if lease is not None:
            return lease
        return (await self.storage.settings(name)).lease

    async def take_many(
        self,
        name: str,
        key: str | None = None,
        *,
        count: int = 1,
        lease: float | None = None,
        wait: float = 0.0,
        gone: Callable[[], bool] | None = None,
    ) -> list[Item]:
        """Up to `count` items (leased with `lease` or the queue's default lease);
        with `wait`, wait that long for the first one (or until `gone()`)."""
        name = self.names.parse(name)
        lease = await self._lease_for(name, lease)
        if count == 0:
            return []
        items = await self._take(name, key, count, lease)
        if items or wait <= 0:
            return items
        first = await self._wait(name, key, lease, wait, gone)
        if first is None:
            return []
        more = await self._take(name, key, count - 1, lease) if count > 1 else []
        return [first, *more]

    async def _take(
        self, name: str, key: str | None, count: int, lease: float | None
    ) -> list[Item]:
        """Storage's take, counting the items delivered again (`redelivered`)."""
        items = await self.storage.take_many(name, key, count, lease)
        again = sum(item.attempts > 1 for item in items)
        if again:
            self._redelivered[name] = self._redelivered.get(name, 0) + again
        return items

    async def take(
        self,
        name: str,
        key: str | None = None,
        *,
        lease: float | None = None,
        wait: float = 0.0,
        gone: Callable[[], bool] | None = None,
    ) -> Item:
        items = await self.take_many(name, key, count=1, lease=lease, wait=wait, gone=gone)
        if not items:
            raise NoItem("take")
        return items[0]

    async def _wait(
        self,
        name: str,
        key: str | None,
        lease: float | None,
        wait: float,
        gone: Callable[[], bool] | None,
    ) -> Item | None:
        """Wait up to `wait` seconds for one item. `gone` tells whether the client hung
        up: it is looked at a few times a second, and then the want is withdrawn (and
        an item that reached it meanwhile given back)."""
        poll = _Poll()
        want = await self.want(poll, None, name, key, lease=lease)
        if want is None:
            return poll.item.result()
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            left = deadline - asyncio.get_running_loop().time()
            step = min(left, HANG_UP_CHECK) if gone is not None else left
            done, _ = await asyncio.wait([poll.item], timeout=max(step, 0.0))
            hung_up = gone is not None and gone()
            if done and not hung_up:
                return poll.item.result()
            if hung_up or left <= step:
                break
        self._registry(want).remove(want)
        if poll.item.done():  # delivered, but nobody is there to take it any more
            if hung_up:
                await self.give_back(name, poll.item.result())
                return None
            return poll.item.result()
        poll.item.cancel()
        return None

    async def peek(self, name: str, key: str | None = None) -> Item:
        item = await self.storage.peek(self.names.parse(name), key)
        if item is None:
            raise NoItem("peek")
        return item

    # -- leases -----------------------------------------------------------------------

    async def ack(self, name: str, lease: LeaseRef | str) -> None:
        """Ack one lease (a `LeaseRef`, or an item id: whatever lease it has now)."""
        if not (await self.ack_many(name, [_ref(lease)]))[0]:
            raise NoSuchLease()

    async def ack_many(self, name: str, refs: Sequence[LeaseRef]) -> list[bool]:
        """Ack leases; for each, whether it named a live one."""
        return await self.storage.ack(self.names.parse(name), refs)

    async def release(self, name: str, lease: LeaseRef | str, delay: float | None = None) -> None:
        """End a lease early; without `delay`, the queue's retry delay applies."""
        if not (await self.release_many(name, [_ref(lease)], delay))[0]:
            raise NoSuchLease()

    async def release_many(
        self, name: str, refs: Sequence[LeaseRef], delay: float | None = None
    ) -> list[bool]:
        return await self.storage.release(self.names.parse(name), refs, delay)

    async def touch(self, name: str, lease: LeaseRef | str, seconds: float) -> float:
        until = (await self.touch_many(name, [_ref(lease)], seconds))[0]
        if until is None:
            raise NoSuchLease()
        return until

    async def touch_many(
        self, name: str, refs: Sequence[LeaseRef], seconds: float
    ) -> list[float | None]:
        return await self.storage.touch(self.names.parse(name), refs, seconds)

    # -- wants ------------------------------------------------------------------------

    async def want(
        self,
        consumer: Consumer,
        identifier: object,
        name: str,
        key: str | None,
        *,
        lease: float | None = None,
        count: int = 1,
        grouped: bool = False,
    ) -> Want | None:
        """Register a want for `count` items; it is served now from storage as far as
        storage has items, and later by puts. Returns the want while it waits, None
        once it is fully served. (`grouped`: see `Want`.)

        The want is registered before storage is asked, so a put that lands
        meanwhile either finds the want or is found by the take.
        """
        name = self.names.parse(name)
        lease = await self._lease_for(name, lease)
        want = Want(consumer, identifier, name, key, lease=lease, count=count, grouped=grouped)
        registry = self._registry(want)
        registry.add(want)
        try:
            await self._serve_want(want)
        except BaseException:  # e.g. storage failed: the want is answered with the error
            registry.remove(want)
            raise
        return want if registry.pending(want) else None

    def _registry(self, want: Want) -> WantRegistry:
        return self.wants if want.lease is None else self.leased_wants

    def cancel(self, want: Want) -> None:
        """Forget a want that is no longer wanted (its connection closed)."""
        self._registry(want).remove(want)

    async def _serve_want(self, want: Want) -> bool:
        """Give `want` what storage has for it, up to what it still wants. While storage
        is asked the want is busy (puts pass it over); if items became ready meanwhile,
        storage is asked again, so no item waits while the want does. True when storage
        had fewer than asked and nothing became ready meanwhile (no more for its kind)."""
        registry = self._registry(want)
        while registry.pending(want) and not want.busy:
            wakes, asked = self._wakes.get(want.queue, 0), want.remaining
            want.busy = True
            try:
                items = await self._take(want.queue, want.key, asked, want.lease)
            except QueueNotFound:
                registry.remove(want)
                raise
            finally:
                want.busy = False
            refused = self._deliver_all(want, items)
            if refused:
                await self.give_back_many(want.queue, refused)
            if len(items) < asked and self._wakes.get(want.queue, 0) == wakes:
                return True
        return False

    def _deliver(self, want: Want, item: Item, written: asyncio.Future[None] | None) -> bool:
        """Deliver one item to a want and count it; False if the consumer refused.
        A want that wants more goes to the back of the line."""
        registry = self._registry(want)
        registry.remove(want)
        if not want.consumer.deliver(want, item, written):
            return False
        want.remaining -= 1
        if want.remaining > 0:
            registry.add(want)
        return True

    def _deliver_all(self, want: Want, items: list[Item]) -> list[tuple[Item, None]]:
        """`_deliver` of each of `items` in turn, while the want is pending; those it
        did not take. (The want goes to the back of the line once, not once an item:
        nothing else runs in between, so the line ends the same.)"""
        registry = self._registry(want)
        if not items or not registry.remove(want):
            return [(item, None) for item in items]
        deliver = want.consumer.deliver
        for index, item in enumerate(items):
            if want.remaining <= 0 or not deliver(want, item, None):
                return [(item, None) for item in items[index:]]
            want.remaining -= 1
        if want.remaining > 0:
            registry.add(want)
        return []

    def _wake(self, name: str) -> None:
        """Items became ready in `name`: serve its waiting wants from storage."""
        if not (self.wants.waiting(name) or self.leased_wants.waiting(name)):
            return
        self._wakes[name] = self._wakes.get(name, 0) + 1
        if name in self._serving:
            self._again.add(name)
            return
        task = asyncio.get_running_loop().create_task(self._serve_queue(name))
        self._serving[name] = task
        task.add_done_callback(lambda _: self._serving.pop(name, None))

    async def _serve_queue(self, name: str) -> None:
        try:
            while True:
                self._again.discard(name)
                waiting = [*self.wants.in_order(name), *self.leased_wants.in_order(name)]
                # What storage had no more for in this pass, by (key, leased): an unkeyed
                # take that came back short leaves nothing for any want of its kind (a
                # leased one: nothing of a free group), a keyed one nothing for its key.
                # The others of that kind are not asked again until the next wake (one
                # ack on a busy ordered queue would else ask storage once per want).
                short: set[tuple[str | None, bool]] = set()
                for want in sorted(waiting, key=lambda want: want.seq):
                    leased = want.lease is not None
                    kind = (match_key(want.key), leased)
                    if (None, leased) in short or kind in short:
                        continue
                    if self._registry(want).pending(want) and await self._serve_want(want):
                        short.add(kind)
                if name not in self._again:
                    return
        except QueueNotFound:
            self.wants.cancel_queue(name)
            self.leased_wants.cancel_queue(name)
        except Exception:
            log.exception("serving the wants of queue %s failed", name)

    async def give_back(
        self, name: str, item: Item, written: asyncio.Future[None] | None = None
    ) -> None:
        """An item chosen for a want that could not receive it (`give_back_many`)."""
        await self.give_back_many(name, [(item, written)])

    async def give_back_many(
        self, name: str, items: Sequence[tuple[Item, asyncio.Future[None] | None]]
    ) -> None:
        """Items chosen for wants that could not receive them, in the order they were
        taken. Leased items' leases are released, together (they go back to the front
        in that order); another goes to the next matching want, else back to the front,
        the first frontmost: several of an ordered queue's group, taken without a lease,
        keep their order. If the queue was deleted meanwhile, the items go with it. Each
        `written` travels with its item and is resolved once it is placed again."""
        try:
            leased = [lease_of(item) for item, _ in items if item.lease_expires is not None]
            if leased:
                await self.storage.release(name, leased, 0.0)  # they never reached anyone
            back = [
                item
                for item, written in items
                if item.lease_expires is None and not self._hand_off(name, item, written)
            ]
            for item in reversed(back):  # each put at the front: the first put last
                await self.storage.put_front(name, item)
        except QueueNotFound:
            log.info("%d items not returned: queue %s was deleted", len(items), name)
        for _, written in items:
            if written is not None and not written.done():
                written.set_result(None)

    def _hand_off(self, name: str, item: Item, written: asyncio.Future[None] | None = None) -> bool:
        """Give `item` to the longest-waiting matching want that takes items without
        a lease; False if there is none."""
        while (want := self.wants.pop_match(name, item)) is not None:
            if self._deliver(want, item, written):
                return True
        return False
