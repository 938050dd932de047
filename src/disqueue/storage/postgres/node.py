"""What one node of a PostgreSQL-backed service does besides answering requests.

- It listens (`LISTEN`) for the other nodes' news: items became ready in a queue, or
  a queue was deleted; and tells them its own (`NOTIFY`, coalesced: while one
  notification is on its way, and for 10 ms after, the next ones gather).
- It handles deadlines: leases that ran out, delays and ttls that ended. Every node
  looks at the earliest deadline in the database, so when the node that leased an item
  is dead another one gives it back. Rows are claimed with `SKIP LOCKED`, so two
  nodes never handle the same deadline.
- It adds what it counted to the queues' totals about once a second.
- A safety net, once a second: queues that a consumer here waits on are looked at
  for ready items, in case a notification was lost (the listening connection was
  down, say).
- Its row in `nodes` (what the dashboard lists): written at start, its `last_seen`
  refreshed every few seconds from the sweep loop, deleted on a clean close; the rows
  of nodes not seen for `GONE` seconds are deleted by whichever node looks next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from typing import TYPE_CHECKING, Any, NamedTuple

import asyncpg

from disqueue.core import contract
from disqueue.errors import StorageFailure, StorageUnavailable
from disqueue.models import NodeInfo, QueueSettings
from disqueue.storage.common import Totals
from disqueue.storage.postgres import sql

if TYPE_CHECKING:
    from disqueue.storage.postgres.storage import PostgresStorage

log = logging.getLogger("disqueue.storage")

#: The safety net's period, and the longest a node sleeps without looking at deadlines.
SAFETY = 1.0
#: At most this many rows of each kind per pass over the deadlines.
BATCH = 500
#: The least time between two notifications a node sends: news gathered meanwhile
#: goes together, so a busy node sends at most a hundred a second whatever its load.
NOTIFY_GAP = 0.01
#: How long after a delete its queue's items are looked for once more (seconds).
LEFT_BEHIND = 60.0
#: How long the listening connection may go without a sign of life.
LISTEN_CHECK = 5.0
#: How often a node refreshes its row in `nodes`, and after how long without a refresh
#: a node counts as gone (seconds).
HEARTBEAT = 5.0
GONE = 30.0


class Settlement(NamedTuple):
    """What a lease that ended did, to apply once its transaction committed."""

    counts: list[tuple[int, Totals]]  # (queue id, totals to add)
    ready: list[str]  # queues that got a ready item
    deadline: float | None  # a new deadline (the end of a release's delay)


class Node:
    """The background work of one node (see the module's docstring)."""

    def __init__(self, storage: PostgresStorage) -> None:
        self.storage = storage
        self.id = secrets.token_hex(6)
        self.started = time.time()
        self.totals: dict[int, Totals] = {}
        #: Held while totals are on their way to the database (and `info` waits).
        self.counting = asyncio.Lock()
        self._starved: set[str] = set()
        self._outbox: set[str] = set()
        self._send = asyncio.Event()
        self._due = asyncio.Event()
        self._next = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._kept: set[asyncio.Task[None]] = set()

    @property
    def channel(self) -> str:
        return f"disqueue_{self.storage.schema}"

    async def start(self) -> None:
        # Listed at once; if the database is away now, the sweep loop writes it later.
        with contextlib.suppress(StorageUnavailable, StorageFailure):
            await self._seen()
        loop = asyncio.get_running_loop()
        for work in (self._listen, self._notify, self._sweep_forever):
            self._tasks.append(loop.create_task(work()))

    async def stop(self) -> None:
        if self._kept:
            await asyncio.wait(self._kept, timeout=5.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        with contextlib.suppress(StorageUnavailable, StorageFailure):
            await asyncio.wait_for(self._flush_totals(), timeout=5.0)
        with contextlib.suppress(StorageUnavailable, StorageFailure, TimeoutError):
            await asyncio.wait_for(self.storage.run("execute", sql.NODE_LEFT, self.id), 5.0)

    async def nodes(self) -> list[NodeInfo]:
        """The nodes seen in the last `GONE` seconds, oldest first (`started` is each
        node's own clock, `last_seen` the database's)."""
        rows = await self.storage.run("fetch", sql.NODES, GONE)
        return [
            NodeInfo(row["id"], row["host"], row["pid"], row["started"], row["last_seen"],
                     this=row["id"] == self.id)
            for row in rows
        ]  # fmt: skip

    async def _seen(self) -> None:
        """This node's sign of life, and the end of the rows of nodes gone quiet."""
        await self.storage.run(
            "execute", sql.NODE_SEEN, self.id, socket.gethostname(), os.getpid(), self.started
        )
        await self.storage.run("execute", sql.NODES_GONE, GONE)

    # -- what the storage tells the node ------------------------------------------------

    def count(self, queue_id: int, totals: Totals) -> None:
        """Add to a queue's totals (written within a second)."""
        known = self.totals.get(queue_id)
        self.totals[queue_id] = (
            totals
            if known is None
            else Totals(*(a + b for a, b in zip(known, totals, strict=True)))
        )

    def keep(self, task: asyncio.Task[None]) -> None:
        """Hold a task that must finish (`stop` gives it five seconds)."""
        self._kept.add(task)
        task.add_done_callback(self._kept.discard)

    def tell(self, news: str, name: str) -> None:
        """Tell the other nodes that items became ready in `name` ("ready"), that it
        was deleted ("drop"), or paused or resumed ("settings")."""
        self._outbox.add(f"{self.id} {news} {name}")
        self._send.set()

    def waiting(self, name: str, starved: bool) -> None:
        """A take in `name` came back short (a consumer may wait there from now on), or
        the queue is gone (False). A full take does not clear the mark: another consumer
        may still wait; a queue with ready items and nobody waiting costs a no-op wake."""
        if starved:
            self._starved.add(name)
        else:
            self._starved.discard(name)

    def deadline(self, when: float | None) -> None:
        """Something is due at `when`: look at the deadlines then."""
        if when is not None and when < self._next:
            self._next = when
            self._due.set()

    async def give_back(
        self, connection: asyncpg.Connection, row: asyncpg.Record, delay: float | None
    ) -> Settlement:
        """A lease ended without an ack (`row` from `LEASED`/`EXPIRED_LEASES`, locked):
        back to the front of its queue (after `delay`), or after the queue's
        `max_attempts`-th delivery on to its dead-letter queue, or dropped."""
        queue_id, name, target = row["queue_id"], row["name"], row["dead_letter"]
        settings = QueueSettings(max_attempts=row["max_attempts"], dead_letter=target,
                                 retry_delays=_delays(row["retry_delays"]))  # fmt: skip
        letters = None
        if target is not None and row["max_attempts"] is not None:
            letters = await connection.fetchval("SELECT id FROM queues WHERE name = $1", target)
        now = self.storage.clock()
        outcome = contract.after_lease(
            row["attempts"], settings, delay, now, letters is not None, row["ttl_at"]
        )
        if isinstance(outcome, contract.Requeue):
            visible_at = outcome.visible_at
            await connection.execute(sql.REQUEUE, row["pos"], visible_at)
            # Delayed at the front, it holds its group still (contract.holds_group).
            return Settlement([], [] if visible_at else [name], visible_at)
        # Gone from an ordered queue: its group may be free, items takeable without a put.
        freed = [name] if row["ordered"] else []
        if isinstance(outcome, contract.Expire):
            await connection.execute(sql.DROP_ITEM, row["pos"])
            return Settlement([(queue_id, Totals(expired=1))], freed, None)
        counts = [(queue_id, Totals(dead_lettered=1))]
        if letters is None:
            await connection.execute(sql.DROP_ITEM, row["pos"])
            log.info("queue %s: an item was dropped after %d deliveries", name, row["attempts"])
            return Settlement(counts, freed, None)
        await connection.execute(sql.MOVE, row["pos"], letters, name)
        return Settlement([*counts, (letters, Totals(put=1))], [target, *freed], None)

    def settle(self, outcome: Settlement) -> None:
        """Apply what `give_back` did, once its transaction committed."""
        counts, ready, when = outcome
        for queue_id, totals in counts:
            self.count(queue_id, totals)
        for name in ready:
            self.storage.ready(name)
        self.deadline(when)

    # -- listening and telling ------------------------------------------------------------

    def _heard(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        node, news, name = payload.split(" ", 2)
        if node == self.id:
            return
        if news == "drop":
            self.storage.forget(name)
        elif news == "settings":  # paused or resumed elsewhere: read it again when needed
            self.storage.forget_settings(name)
        self.storage.on_ready(name)  # a drop: the consumers waiting here learn it is gone

    async def _listen(self) -> None:
        """Keep a connection listening; after each (re)connection, look again at every
        queue a consumer waits on, since news may have been missed meanwhile."""
        pause = 0.1
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(**self.storage.connect_args())
                lost = asyncio.Event()
                connection.add_termination_listener(_setter(lost))
                await connection.add_listener(self.channel, self._heard)
                pause = 0.1
                self.storage.forget_all()
                for name in list(self._starved):
                    self.storage.on_ready(name)
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), LISTEN_CHECK)
                        break
                    await connection.fetchval("SELECT 1", timeout=LISTEN_CHECK)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("storage postgres: listening failed (%s); again in %.1f s", exc, pause)
            finally:
                if connection is not None:
                    connection.terminate()
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)

    async def _notify(self) -> None:
        while True:
            await self._send.wait()
            self._send.clear()
            messages, self._outbox = list(self._outbox), set()
            try:
                await self.storage.run("execute", sql.NOTIFY, self.channel, messages)
            except (StorageUnavailable, StorageFailure):
                log.debug("storage postgres: %d notifications lost", len(messages))
            await asyncio.sleep(NOTIFY_GAP)

    # -- deadlines ---------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        safety = 0.0
        seen = time.monotonic() + HEARTBEAT  # `start` wrote it
        while True:
            # At least 5 ms: a due row that another node holds must not make this spin.
            now = self.storage.clock()
            pause = max(0.005, min(self._next, now + SAFETY) - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), pause)
            self._due.clear()
            try:
                while await self.sweep():
                    pass
                following = await self.storage.run("fetchval", sql.NEXT_DEADLINE)
                self._next = following if following is not None else self.storage.clock() + SAFETY
                if time.monotonic() >= safety:
                    safety = time.monotonic() + SAFETY
                    await self._flush_totals()
                    await self._look_again()
                    await self.storage.run(
                        "execute", sql.LEFT_BEHIND, self.storage.clock() - LEFT_BEHIND
                    )
                if time.monotonic() >= seen:
                    seen = time.monotonic() + HEARTBEAT
                    await self._seen()
            except (StorageUnavailable, StorageFailure):
                self._next = self.storage.clock() + SAFETY  # the database is away: later
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("storage postgres: handling deadlines failed")
                self._next = self.storage.clock() + SAFETY

    async def sweep(self) -> bool:
        """Handle what is due now; True if there may be more."""
        now = self.storage.clock()
        outcomes: list[Settlement] = []
        # While `info` waits: it counts items whose ttl passed as expired until they are
        # dropped, and the drop is counted here, so it must not look in between.
        async with self.counting, self.storage.connection() as connection:
            async with connection.transaction():
                leases = await connection.fetch(sql.EXPIRED_LEASES, now, BATCH)
                for row in leases:
                    outcomes.append(await self.give_back(connection, row, None))
                delays = await self._end_delays(connection, now)
                ttls = await connection.fetch(sql.TTLS_ENDED, now, BATCH)
            for row in ttls:
                self.count(row[0], Totals(expired=1))
            ready_ids = {row[0] for row in delays}
            # A drop of an item delayed at the front frees its group on an ordered queue
            # (contract.holds_group): the items behind it are takeable, so wake too.
            ready_ids.update(row[0] for row in ttls if contract.holds_group(False, row[2], row[1]))
            names = dict(await connection.fetch(sql.NAMES_OF, list(ready_ids)) if ready_ids else [])
        for outcome in outcomes:
            self.settle(outcome)
        for queue_id in ready_ids:
            if queue_id in names:
                self.storage.ready(names[queue_id])
        return max(len(leases), len(delays), len(ttls)) >= BATCH

    @staticmethod
    async def _end_delays(connection: asyncpg.Connection, now: float) -> list[tuple[int]]:
        """Make the delayed items that are due ready, each with a fresh position
        (contract.delay_end_front), given in the contract's order."""
        rows = await connection.fetch(sql.DELAYS_DUE, now, BATCH)
        rows.sort(key=lambda row: contract.due_order("delay", row["visible_at"], row["pos"]))
        fronts = [row for row in rows if contract.delay_end_front(row["pos"])]
        backs = [row for row in rows if not contract.delay_end_front(row["pos"])]
        old, new = [], []
        for chosen, positions in ((fronts, sql.FRONT_POSITIONS), (backs, sql.POSITIONS)):
            if chosen:
                fresh = await connection.fetch(positions, len(chosen))
                old += [row["pos"] for row in chosen]
                new += [row[0] for row in fresh]
        if old:
            await connection.execute(sql.DELAYS_ENDED, old, new)
        return [(row["queue_id"],) for row in rows]

    async def _look_again(self) -> None:
        if not self._starved:
            return
        rows = await self.storage.run("fetch", sql.HAVE_READY, list(self._starved))
        for (name,) in rows:
            self.storage.on_ready(name)

    async def _flush_totals(self) -> None:
        if not self.totals:
            return
        async with self.counting:
            pending, self.totals = self.totals, {}
            # In queue order: two nodes flushing at once lock the rows in the same order.
            rows = [(queue_id, *pending[queue_id]) for queue_id in sorted(pending)]
            try:
                await self.storage.run("executemany", sql.ADD_TOTALS, rows)
            except BaseException:
                for queue_id, totals in pending.items():
                    self.count(queue_id, totals)
                raise


def _delays(stored: list[float] | None) -> tuple[float, ...] | None:
    """A queue's retry delays as the database keeps them (an array, or NULL)."""
    return None if stored is None else tuple(stored)


def _setter(event: asyncio.Event) -> Any:
    return lambda _: event.set()
