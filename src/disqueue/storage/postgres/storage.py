"""PostgreSQL storage: several server nodes share one database and are one service.

The database holds everything; a node keeps only a cache of queue names and settings
(which never change while a queue exists). A take is one statement that picks the head
with `FOR UPDATE SKIP LOCKED`, so concurrent takers on any node never get the same
item. A node tells the others that items became ready with `NOTIFY`; deadlines (end of
a lease, a delay, a ttl) are handled by whichever node sees them first
(`disqueue.storage.postgres.node`). While the database cannot be reached, requests
fail with 503 `storage unavailable`, and the pool reconnects once it is back.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg

from disqueue.core import contract
from disqueue.core.contract import LeaseRef
from disqueue.errors import (
    ConfigError,
    QueueFull,
    QueueNotFound,
    StorageFailure,
    StorageUnavailable,
    TooMany,
)
from disqueue.models import (
    Item,
    NewItem,
    NodeInfo,
    QueueInfo,
    QueueSettings,
    match_key,
    new_item_id,
)
from disqueue.storage.base import pending_migrations
from disqueue.storage.common import NameChanges, Totals, decode_headers, encode_headers
from disqueue.storage.postgres import sql
from disqueue.storage.postgres.batch import Combiner
from disqueue.storage.postgres.node import Node

log = logging.getLogger("disqueue.storage")

T = TypeVar("T")
Clock = Callable[[], float]
Queue = tuple[int, QueueSettings]
#: A take's share of its statement: its items and, for a take without a lease, each
#: one's ttl end (the rows are gone: a share whose request went away is put back whole).
Share = tuple[list[Item], list[float | None]]
#: What takes gathered into one statement share: (queue id, key, lease, and 0, or on an
#: ordered queue a number of the take's own: its items are one client's, never shared
#: out, or two clients would hold one group).
TakeKey = tuple[int, str | None, float | None, int]

#: Errors that mean the database cannot be reached (or went away mid-request).
UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections
    asyncpg.InterfaceError,  # connection closed
    asyncpg.exceptions.InternalClientError,  # the server went away mid-operation
    OSError,
    TimeoutError,
)
#: Errors after which a connection is closed rather than given back to the pool.
BROKEN = (asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError)

#: How long a request waits for a connection, and a statement for its answer.
ACQUIRE_TIMEOUT = 5.0
COMMAND_TIMEOUT = 30.0
#: At most one "unavailable" log line this often (seconds).
COMPLAIN_EVERY = 5.0
#: How long `open` keeps trying to reach the database before the server gives up.
OPEN_PATIENCE = 15.0


def _ignore(name: str) -> None:
    return None


def _stored(status: str, expected: int) -> None:
    """Check an INSERT's status ("INSERT 0 n"): fewer rows means the queue was gone."""
    if int(status.rsplit(" ", 1)[1]) < expected:
        raise QueueNotFound()


class PostgresStorage:
    """The `Storage` interface over a PostgreSQL schema shared by every node."""

    kind = "postgres"

    def __init__(
        self, dsn: str, schema: str = "disqueue", pool: int = 10, clock: Clock = time.time
    ) -> None:
        self.dsn, self.schema, self.pool_size = dsn, schema, pool
        #: The time of every decision (Storage.clock); `put_at` alone is the database's.
        self.clock = clock
        self.on_ready: Callable[[str], None] = _ignore
        self._pool: asyncpg.Pool | None = None
        self._queues: dict[str, Queue] = {}
        self._paused: dict[str, bool] = {}  # what this node last read (other nodes tell)
        self._changes = NameChanges()
        self._complained, self._failures = -COMPLAIN_EVERY, 0
        self.node = Node(self)
        # Puts are one kind (one INSERT serves every queue); takes of different queues
        # and keys run side by side on up to half the pool.
        lanes = max(1, pool // 2)
        self._puts: Combiner[None, tuple[int, Item], Exception | None] = Combiner(
            self._put_batch, lanes=1, limit=1000
        )
        self._alone = itertools.count(1)
        self._takes: Combiner[TakeKey, int, Share] = Combiner(
            self._take_batch, lanes=lanes, limit=10_000, size=lambda count: count,
            orphan=self._orphaned,
        )  # fmt: skip

    # -- connections ----------------------------------------------------------------

    def connect_args(self) -> dict[str, Any]:
        """What every connection of this node is opened with."""
        return {
            "dsn": self.dsn,
            "timeout": ACQUIRE_TIMEOUT,
            "server_settings": {"search_path": self.schema, "application_name": "disqueue"},
        }

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; database trouble becomes `StorageUnavailable` (nothing
        was answered yet, so the client may try again) or `StorageFailure`."""
        if self._pool is None:
            raise StorageUnavailable()
        try:
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT) as connection:
                try:
                    yield connection
                except BROKEN:
                    connection.terminate()  # in a state nobody knows: never reuse it
                    raise
        except UNAVAILABLE as exc:
            self._complain(exc)
            raise StorageUnavailable() from exc
        except asyncpg.ForeignKeyViolationError as exc:
            raise QueueNotFound() from exc  # a row named a queue deleted meanwhile
        except asyncpg.PostgresError as exc:
            log.error("storage postgres: %s: %s", type(exc).__name__, exc)
            raise StorageFailure() from exc

    def _complain(self, exc: BaseException) -> None:
        """Log that the database is unreachable: the first time, then at most every
        few seconds with how many requests failed meanwhile (not a line per request)."""
        self._failures += 1
        now = time.monotonic()
        if now - self._complained >= COMPLAIN_EVERY:
            log.warning("storage postgres unavailable (%d requests failed since the last "
                        "report): %s: %s", self._failures, type(exc).__name__, exc)  # fmt: skip
            self._complained, self._failures = now, 0

    async def run(self, method: str, query: str, *args: Any) -> Any:
        """`connection.<method>(query, *args)` on a pooled connection."""
        async with self.connection() as connection:
            return await getattr(connection, method)(query, *args)

    # -- life cycle -------------------------------------------------------------------

    async def open(self) -> None:
        deadline = time.monotonic() + OPEN_PATIENCE
        pause = 0.2
        while True:
            try:
                await self._migrate()
                self._pool = await asyncpg.create_pool(
                    min_size=0,  # no floor to restore (and log about) while it is down
                    max_size=self.pool_size,
                    command_timeout=COMMAND_TIMEOUT,
                    **self.connect_args(),
                )
                break
            except UNAVAILABLE as exc:
                if time.monotonic() + pause > deadline:
                    raise ConfigError(f"storage postgres: cannot connect: {exc}") from exc
                log.warning("storage postgres: cannot connect (%s); trying again", exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
            except asyncpg.PostgresError as exc:
                raise ConfigError(f"storage postgres: {exc}") from exc
        await self.node.start()

    async def _migrate(self) -> None:
        """Bring the schema to this server's version. Nodes starting at once take turns
        on an advisory lock, so each migration runs exactly once."""
        connection = await asyncpg.connect(**self.connect_args())
        try:
            async with connection.transaction():
                await connection.execute(sql.LOCK_CREATES, f"disqueue:{self.schema}")
                await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                await connection.execute(f'SET LOCAL search_path TO "{self.schema}"')
                await connection.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)"
                )
                version = await connection.fetchval("SELECT max(version) FROM schema_version")
                where = f"storage postgres schema {self.schema}"
                for number, step in pending_migrations("postgres", version or 0, where):
                    log.info("%s: migrating to version %d", where, number)
                    await connection.execute(step)
                    await connection.execute("INSERT INTO schema_version VALUES ($1)", number)
        finally:
            await connection.close()

    async def check(self) -> None:
        await self.run("fetchval", "SELECT 1")

    async def close(self) -> None:
        await self.node.stop()  # deletes this node's row in `nodes`
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), timeout=5.0)
            except TimeoutError:
                self._pool.terminate()
            self._pool = None

    async def nodes(self) -> list[NodeInfo]:
        """The live nodes sharing this schema (`GET /stats`, the dashboard); only this
        backend has more than one, so the core looks for the method with `getattr`."""
        return await self.node.nodes()

    # -- queues -----------------------------------------------------------------------

    async def _queue(self, name: str) -> Queue:
        """The queue's id and settings, from the cache or the database."""
        queue = self._queues.get(name)
        return queue if queue is not None else await self._fetch_queue(name)

    async def _fetch_queue(self, name: str) -> Queue:
        row = await self.run("fetchrow", sql.QUEUE_BY_NAME, name)
        if row is None:
            self._queues.pop(name, None)
            raise QueueNotFound()
        queue = (row["id"], _settings(row))
        self._queues[name] = queue
        self._paused[name] = row["paused"]
        return queue

    def forget(self, name: str) -> None:
        """Drop `name` from the cache (it was deleted, perhaps by another node)."""
        self.forget_settings(name)
        self.node.waiting(name, False)

    def forget_settings(self, name: str) -> None:
        """Drop what the cache knows of `name` (another node changed it)."""
        self._queues.pop(name, None)
        self._paused.pop(name, None)

    def forget_all(self) -> None:
        """Empty the cache (news of deletions and pauses may have been missed)."""
        self._queues.clear()
        self._paused.clear()

    async def _on_queue(
        self,
        name: str,
        action: Callable[[int, QueueSettings], Awaitable[T]],
        found: Callable[[T], bool],
    ) -> T:
        """`action` on the queue's id. When it finds nothing (or its queue vanished under
        it), the cached id is checked: another node may have deleted the queue, or
        deleted it and made it anew."""
        queue_id, settings = await self._queue(name)
        try:
            result = await action(queue_id, settings)
        except QueueNotFound:  # the id is gone: was the queue made anew?
            current = await self._fetch_queue(name)  # raises QueueNotFound
            if current[0] == queue_id:
                raise
            return await action(*current)
        if found(result):
            return result
        current = await self._fetch_queue(name)
        return result if current[0] == queue_id else await action(*current)

    async def create_queue(
        self, name: str, settings: QueueSettings | None = None, max_queues: int | None = None
    ) -> bool:
        settings = settings or QueueSettings()
        await self._changes.settled(name)
        queue_id = await self._changes.run(name, self._create(name, settings, max_queues))
        if queue_id is None:
            return False
        self._queues[name] = (queue_id, settings)
        self._paused[name] = False
        return True

    async def _create(
        self, name: str, settings: QueueSettings, max_queues: int | None
    ) -> int | None:
        args = (name, QueueInfo.now(), *_settings_args(settings), settings.ordered)
        async with self.connection() as connection, connection.transaction():
            if max_queues is not None:  # every node counts under the same lock
                await connection.execute(sql.LOCK_CREATES, f"disqueue:{self.schema}:queues")
                if await connection.fetchval(sql.QUEUE_BY_NAME, name) is not None:
                    return None
                if await connection.fetchval("SELECT count(*) FROM queues") >= max_queues:
                    raise TooMany("too many queues")
            queue_id: int | None = await connection.fetchval(sql.CREATE_QUEUE, *args)
            return queue_id

    async def queues(self) -> list[str]:
        rows = await self.run("fetch", "SELECT name FROM queues ORDER BY id")
        return [row[0] for row in rows]

    async def queue_count(self) -> int:
        count: int = await self.run("fetchval", "SELECT count(*) FROM queues")
        return count

    async def exists(self, name: str) -> bool:
        try:
            await self._fetch_queue(name)
        except QueueNotFound:
            return False
        return True

    async def settings(self, name: str) -> QueueSettings:
        return (await self._queue(name))[1]

    async def change_settings(self, name: str, settings: QueueSettings) -> None:
        async def change(queue_id: int, _: QueueSettings) -> bool:
            args = (queue_id, *_settings_args(settings))
            return await self.run("fetchval", sql.CHANGE_SETTINGS, *args) is not None

        if not await self._on_queue(name, change, bool):
            raise QueueNotFound()
        self.forget_settings(name)
        self.node.tell("settings", name)

    async def redrive(self, name: str, to: str | None, count: int | None) -> int:
        """In one transaction: the dead letters in position order, each to its target's
        back (`nextval` in that order), those with no target left where they are."""

        async def redrive(queue_id: int, settings: QueueSettings) -> dict[str, int]:
            moved: dict[str, int] = {}
            async with self.connection() as connection, connection.transaction():
                ids: dict[str, int | None] = {}
                positions: list[int] = []
                targets: list[int] = []
                ready = sql.REDRIVE_READY[settings.ordered]
                for pos, origin in await connection.fetch(ready, queue_id):
                    if count is not None and len(positions) >= count:
                        break
                    target = contract.redrive_target(origin, to)
                    if target is not None and target not in ids:
                        ids[target] = await connection.fetchval(sql.QUEUE_ID_BY_NAME, target)
                    target_id = ids.get(target or "")
                    if target is None or target_id is None or target_id == queue_id:
                        continue  # nowhere to go: it stays
                    positions.append(pos)
                    targets.append(target_id)
                    moved[target] = moved.get(target, 0) + 1
                if positions:  # fresh back positions, in the dead letters' order
                    new = [r[0] for r in await connection.fetch(sql.POSITIONS, len(positions))]
                    await connection.execute(sql.REDRIVE, positions, targets, new)
            for target, n in moved.items():
                target_id = ids[target]
                assert target_id is not None
                self.node.count(target_id, Totals(put=n))
            return moved

        moved = await self._on_queue(name, redrive, lambda _: True)
        for target in moved:
            self.ready(target)
        return sum(moved.values())

    async def pause(self, name: str, paused: bool) -> None:
        async def pause(queue_id: int, settings: QueueSettings) -> bool:
            # A queue gone meanwhile: the foreign key's violation is QueueNotFound.
            await self.run("execute", sql.PAUSE if paused else sql.RESUME, queue_id)
            return True

        if not await self._on_queue(name, pause, bool):
            raise QueueNotFound()
        self._paused[name] = paused
        self.node.tell("settings", name)
        if not paused:
            self.ready(name)

    async def paused(self, name: str) -> bool:
        """From the cache (a take reads the database itself: this only decides whether
        a put may be handed to a consumer waiting here)."""
        known = self._paused.get(name)
        if known is None:
            await self._fetch_queue(name)  # raises QueueNotFound
            return self._paused.get(name, False)
        return known

    async def info(self, name: str) -> QueueInfo:
        async with self.node.counting:  # not while totals are on their way
            row = await self.run("fetchrow", sql.INFO, name, self.clock())
            mine = self.node.totals.get(row["id"], Totals()) if row is not None else Totals()
        if row is None:
            self.forget(name)
            raise QueueNotFound()
        expired = row["expired_total"] + row["expiring"]
        stored = Totals(row["put_total"], row["taken_total"], row["acked_total"], expired,
                        row["dead_lettered_total"])  # fmt: skip
        put, taken, acked, expired, dead = stored.plus(mine)
        return QueueInfo(
            name, row["created"], _settings(row), size=row["ready"],
            delayed=row["delayed"], in_flight=row["in_flight"], put=put, taken=taken,
            acked=acked, expired=expired, dead_lettered=dead, oldest=row["oldest"],
            paused=row["paused"],
        )  # fmt: skip

    async def delete_queue(self, name: str) -> None:
        await self._changes.settled(name)
        deleted = await self._changes.run(name, self._delete(name))
        self.forget(name)
        if deleted is None:
            raise QueueNotFound()
        self.node.totals.pop(deleted, None)
        self.node.tell("drop", name)

    async def _delete(self, name: str) -> int | None:
        async with self.connection() as connection, connection.transaction():
            deleted: int | None = await connection.fetchval(sql.DELETE_QUEUE, name)
            if deleted is not None:
                await connection.execute(sql.DELETE_ITEMS, deleted)
                await connection.execute(sql.NOTE_DROPPED, deleted, self.clock())
            return deleted

    # -- putting ------------------------------------------------------------------------

    async def put(self, name: str, item: Item) -> None:
        # The queue's delay or ttl, or headers: not the plain put.
        if item.headers or item.priority or contract.defaults((await self._queue(name))[1]):
            await self.put_many(name, [NewItem(item.value, item.key, id=item.id,
                                               headers=item.headers,
                                               priority=item.priority)])  # fmt: skip
            return

        async def insert(queue_id: int, settings: QueueSettings) -> bool:
            if settings.max_items is None:
                error = await self._puts.submit(None, (queue_id, item))
                if error is not None:
                    raise error
            else:
                async with self.connection() as connection, connection.transaction():
                    await self._make_room(connection, queue_id, settings, 1)
                    status = await connection.execute(sql.PUT, *self._put_args(queue_id, item))
                    _stored(status, 1)
            self.node.count(queue_id, Totals(put=1))  # the id it went to, known here
            return True

        await self._on_queue(name, insert, bool)
        self.ready(name)

    @staticmethod
    def _put_args(queue_id: int, item: Item) -> tuple[Any, ...]:
        return queue_id, item.id, item.key, match_key(item.key), item.value

    async def _put_batch(self, _: None, puts: list[tuple[int, Item]]) -> list[Exception | None]:
        """Plain puts, into any queues, in one statement. If a queue is gone, each put
        goes on its own, so that only the puts into that queue fail."""
        if len(puts) == 1:
            try:
                _stored(await self.run("execute", sql.PUT, *self._put_args(*puts[0])), 1)
            except QueueNotFound as exc:
                return [exc]
            return [None]
        columns = list(zip(*(self._put_args(*put) for put in puts), strict=True))
        stored = {row[0] for row in await self.run("fetch", sql.PUT_BATCH, *map(list, columns))}
        return [None if item.id in stored else QueueNotFound() for _, item in puts]

    async def _queue_id(self, name: str) -> int:
        return (await self._queue(name))[0]

    @staticmethod
    async def _make_room(
        connection: asyncpg.Connection, queue_id: int, settings: QueueSettings, count: int
    ) -> None:
        await connection.execute(sql.LOCK_QUEUE, queue_id)
        held: int = await connection.fetchval(sql.HELD, queue_id)
        if contract.full(held, count, settings):
            raise QueueFull()

    async def put_many(self, name: str, items: list[NewItem]) -> list[str]:
        """All of `items` or none, in one transaction; a `dedup_id` with a live claim
        answers with the first item's id and stores nothing."""
        now = self.clock()

        placed: list[contract.Placement] = []

        async def insert(queue_id: int, settings: QueueSettings) -> tuple[list[str], list[NewItem]]:
            async with self.connection() as connection, connection.transaction():
                ids, new = await self._claim(connection, queue_id, items, now)
                if settings.max_items is not None:
                    await self._make_room(connection, queue_id, settings, len(new))
                placed[:] = [contract.placement(n, settings, now) for n in new]
                if new:
                    positions = [r[0] for r in await connection.fetch(sql.POSITIONS, len(new))]
                    status = await connection.execute(
                        sql.PUT_MANY, queue_id, positions, [n.id for n in new],
                        [n.key for n in new], [match_key(n.key) for n in new],
                        [n.value for n in new], [p.visible_at for p in placed],
                        [p.ttl_at for p in placed], [encode_headers(n.headers) for n in new],
                        [n.priority for n in new],
                    )  # fmt: skip
                    _stored(status, len(new))
            if new:
                self.node.count(queue_id, Totals(put=len(new)))
            return ids, new

        ids, new = await self._on_queue(name, insert, lambda _: True)
        if new:
            self.node.deadline(min((p.visible_at for p in placed if p.visible_at), default=None))
            self.node.deadline(min((p.ttl_at for p in placed if p.ttl_at), default=None))
            if any(p.visible_at is None for p in placed):
                self.ready(name)
        return ids

    @staticmethod
    async def _claim(
        connection: asyncpg.Connection, queue_id: int, items: list[NewItem], now: float
    ) -> tuple[list[str], list[NewItem]]:
        """Every item's id, and the items to store (those not known by a dedup_id)."""
        ids: list[str] = []
        new: list[NewItem] = []
        for item in items:
            if item.dedup_id is not None:
                claimed = await connection.fetchval(
                    sql.CLAIM, queue_id, item.dedup_id, item.id, contract.dedup_until(now), now
                )
                if claimed is None:
                    ids.append(await connection.fetchval(sql.CLAIMED, queue_id, item.dedup_id))
                    continue
            ids.append(item.id)
            new.append(item)
        return ids, new

    async def put_leased(self, name: str, item: Item, lease: float) -> Item | None:
        """One statement, the insert of the item in flight, instead of a put and then the
        waiting consumer's take. Declined (None) on a queue with `max_items` (its room is
        made under a lock, by the usual put), or where the item must wait its turn; a
        queue paused or gone meanwhile stores nothing, and the usual put answers."""
        queue_id, settings = await self._queue(name)
        if (settings.max_items is not None or not contract.hands_off(settings)
                or contract.defaults(settings)):  # fmt: skip
            return None
        until = contract.lease_until(lease, self.clock())
        token = new_item_id()
        args = (*self._put_args(queue_id, item), until, token)
        if await self.run("execute", sql.PUT_LEASED, *args) != "INSERT 0 1":
            return None
        self.node.count(queue_id, Totals(put=1, taken=1))
        self.node.deadline(until)
        return Item(item.value, item.key, item.id, 1, until, contract.receipt(item.id, token))

    async def put_front(self, name: str, item: Item) -> None:
        async def insert(queue_id: int, settings: QueueSettings) -> bool:
            status = await self.run(
                "execute", sql.PUT_FRONT, queue_id, item.id, item.key, match_key(item.key),
                item.value, item.attempts, encode_headers(item.headers), item.priority,
            )  # fmt: skip
            _stored(status, 1)
            self.node.count(queue_id, Totals(taken=-1))
            return True

        await self._on_queue(name, insert, bool)
        self.ready(name)

    async def count_handoff(self, name: str) -> None:
        queue_id = await self._queue_id(name)  # raises QueueNotFound
        self.node.count(queue_id, Totals(put=1, taken=1))

    def ready(self, name: str) -> None:
        """Items became ready in `name`: wake consumers here, and tell the other nodes."""
        self.on_ready(name)
        self.node.tell("ready", name)

    # -- taking ---------------------------------------------------------------------------

    async def take_many(
        self, name: str, key: str | None, count: int, lease: float | None = None
    ) -> list[Item]:
        if count <= 0:
            await self._queue(name)
            return []
        match = match_key(key)

        async def take(queue_id: int, settings: QueueSettings) -> list[Item]:
            alone = next(self._alone) if settings.ordered else 0
            items, _ = await self._takes.submit((queue_id, match, lease, alone), count)
            if items:  # counted now: nothing may fail between the take and its answer
                self.node.count(queue_id, Totals(taken=len(items)))
            return items

        items = await self._on_queue(name, take, bool)
        if len(items) < count:
            self.node.waiting(name, True)
        if items:
            self.node.deadline(items[0].lease_expires)
        return items

    async def _take_batch(self, key: TakeKey, counts: list[int]) -> list[Share]:
        """The takes of one queue and key gathered while the database was busy: one
        take of their added counts, shared out in the order they came. On an ordered
        queue the take waits its turn behind the queue's other takes, on every node."""
        queue_id, match, lease, alone = key
        ordered = alone != 0
        now = self.clock()
        until = contract.lease_until(lease, now) if lease is not None else None
        token = new_item_id()  # one per statement: a receipt is (item id, token)
        args: list[Any] = [queue_id, sum(counts), now]
        args += [match] if match is not None else []
        args += [until, token] if until is not None else []
        take = sql.TAKE[(until is not None, match is not None, ordered)]
        if ordered:
            async with self.connection() as connection, connection.transaction():
                await connection.execute(sql.LOCK_ORDERED, f"disqueue:{self.schema}", queue_id)
                rows = await connection.fetch(take, *args)
        else:
            rows = await self.run("fetch", take, *args)
        rows.sort(key=lambda row: contract.take_order(row[7], row[0], ordered))
        ttls: list[float | None] = [row[8] for row in rows] if until is None else [None] * len(rows)
        if until is None:
            items = [Item(row[3], row[2], row[1], dead_letter_from=row[5],
                          headers=decode_headers(row[6]), priority=row[7])
                     for row in rows]  # fmt: skip
        else:
            items = [
                Item(row[3], row[2], row[1], row[4], until, contract.receipt(row[1], token), row[5],
                     decode_headers(row[6]), row[7])
                for row in rows
            ]  # fmt: skip
        shares: list[Share] = []
        start = 0
        for count in counts:
            shares.append((items[start : start + count], ttls[start : start + count]))
            start += count
        return shares

    def _orphaned(self, key: TakeKey, share: Share) -> None:
        """Items taken for a request that went away meanwhile: put them back."""
        if share[0]:
            task = asyncio.get_running_loop().create_task(self._untake(key[0], *share))
            self.node.keep(task)

    async def _untake(self, queue_id: int, items: list[Item], ttls: list[float | None]) -> None:
        """Put back, at the front and in their order, items whose request went away: as
        they were (attempts, headers, priority, ttl, where a dead letter came from), and
        wake the queue's consumers, here and on the other nodes."""
        try:
            if items[0].lease_expires is not None:
                await self.run("execute", sql.UNLEASE, queue_id, [item.id for item in items])
            else:
                items, ttls = items[::-1], ttls[::-1]  # the last gets the front-most place last
                await self.run(
                    "execute", sql.UNTAKE, queue_id, [item.id for item in items],
                    [item.key for item in items], [match_key(item.key) for item in items],
                    [item.value for item in items], [item.attempts for item in items],
                    [encode_headers(item.headers) for item in items],
                    [item.priority for item in items], ttls,
                    [item.dead_letter_from for item in items],
                )  # fmt: skip
            names = await self.run("fetch", sql.NAMES_OF, [queue_id])
        except (StorageUnavailable, StorageFailure):
            log.error("storage postgres: %d items taken for a request that went away were "
                      "not put back", len(items))  # fmt: skip
            return
        for _, name in names:
            self.ready(name)

    async def take(self, name: str, key: str | None, lease: float | None = None) -> Item | None:
        items = await self.take_many(name, key, 1, lease)
        return items[0] if items else None

    async def peek(self, name: str, key: str | None) -> Item | None:
        match = match_key(key)
        args: list[Any] = [1, self.clock()] + ([match] if match is not None else [])

        async def peek(queue_id: int, settings: QueueSettings) -> asyncpg.Record | None:
            query = sql.PEEK[(match is not None, settings.ordered)]
            return await self.run("fetchrow", query, queue_id, *args)

        row = await self._on_queue(name, peek, lambda row: row is not None)
        if row is None:
            return None
        return Item(row[3], row[2], row[1], dead_letter_from=row[5], headers=decode_headers(row[6]),
                    priority=row[7])  # fmt: skip

    async def purge(self, name: str, in_flight: bool = False) -> int:
        async def purge(queue_id: int, settings: QueueSettings) -> int:
            count: int = await self.run("fetchval", sql.PURGE, queue_id, in_flight)
            return count

        return await self._on_queue(name, purge, bool)

    # -- leases ----------------------------------------------------------------------------

    async def ack(self, name: str, refs: Sequence[LeaseRef]) -> list[bool]:
        async def ack(queue_id: int, settings: QueueSettings) -> list[bool]:
            rows = await self.run("fetch", sql.ACK, queue_id, *_arrays(refs), self.clock())
            if rows:
                self.node.count(queue_id, Totals(acked=len(rows)))
                if settings.ordered:  # their groups may be free: wake consumers, every node
                    self.ready(name)
            return _named(refs, rows)

        return await self._on_queue(name, ack, any)

    async def release(
        self, name: str, refs: Sequence[LeaseRef], delay: float | None = None
    ) -> list[bool]:
        """In one transaction; the last of `refs` goes to the front first, so that they
        keep their order."""

        async def release(queue_id: int, settings: QueueSettings) -> list[bool]:
            found: list[bool] = []
            outcomes = []
            now = self.clock()
            async with self.connection() as connection, connection.transaction():
                for ref in reversed(refs):
                    args = (queue_id, ref.item_id, now, ref.token)
                    row = await connection.fetchrow(sql.LEASED, *args)
                    found.append(row is not None)
                    if row is not None:
                        outcomes.append(await self.node.give_back(connection, row, delay))
            for outcome in outcomes:
                self.node.settle(outcome)
            return found[::-1]

        return await self._on_queue(name, release, any)

    async def touch(
        self, name: str, refs: Sequence[LeaseRef], lease_seconds: float
    ) -> list[float | None]:
        now = self.clock()
        until = contract.lease_until(lease_seconds, now)

        async def touch(queue_id: int, settings: QueueSettings) -> list[float | None]:
            rows = await self.run("fetch", sql.TOUCH, queue_id, *_arrays(refs), now, until)
            return [until if hit else None for hit in _named(refs, rows)]

        touched = await self._on_queue(name, touch, any)
        self.node.deadline(until if any(touched) else None)
        return touched

    async def run_deadlines(self) -> None:
        while await self.node.sweep():
            pass


def _settings(row: asyncpg.Record) -> QueueSettings:
    """A queue's settings from its row (`QUEUE_BY_NAME`, `INFO`)."""
    delays = row["retry_delays"]
    return QueueSettings(row["lease"], row["max_attempts"], row["dead_letter"], row["max_items"],
                         None if delays is None else tuple(delays), row["default_delay"],
                         row["default_ttl"], row["ordered"], row["extras"])  # fmt: skip


def _settings_args(s: QueueSettings) -> tuple[Any, ...]:
    """A queue's settings as the statements take them (`CREATE_QUEUE`, `CHANGE_SETTINGS`)."""
    delays = list(s.retry_delays) if s.retry_delays else None
    return s.lease, s.max_attempts, s.dead_letter, s.max_items, delays, s.delay, s.ttl, s.extras


def _arrays(refs: Sequence[LeaseRef]) -> tuple[list[str], list[str | None]]:
    return [ref.item_id for ref in refs], [ref.token for ref in refs]


def _named(refs: Sequence[LeaseRef], rows: list[asyncpg.Record]) -> list[bool]:
    """For each of `refs`, whether it named one of the leases a statement found (each
    lease answers one ref: a repeated one names nothing the second time)."""
    found = {row[0]: row[1] for row in rows}
    answers = []
    for ref in refs:
        hit = ref.item_id in found and contract.names_lease(ref, found[ref.item_id])
        if hit:
            del found[ref.item_id]
        answers.append(hit)
    return answers
