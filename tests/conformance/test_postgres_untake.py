"""PostgreSQL gathers takes into shared statements: when a take's request goes away
while its statement runs (a long poll whose client left, a WebSocket closed), the items
it got are put back. They must come back as they were: their ttl, headers, priority and
where a dead letter came from, at the front; and the queue's consumers are woken."""

from __future__ import annotations

import asyncio

import asyncpg

from disqueue.models import NewItem, QueueSettings
from disqueue.storage.postgres.storage import PostgresStorage
from tests import pg

from .conftest import FakeClock


async def _waiting_on_lock(blocker: asyncpg.Connection) -> bool:
    count = await blocker.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE '%FROM items%' AND pid <> pg_backend_pid()"
    )
    return bool(count)


async def test_a_take_whose_request_went_away_is_put_back_as_it_was() -> None:
    clock = FakeClock()
    with pg.fresh_schema() as schema:
        storage = PostgresStorage(pg.DSN, schema, clock=clock)
        await storage.open()
        woken: list[str] = []
        storage.on_ready = woken.append
        try:
            await storage.create_queue("q", QueueSettings())
            new = NewItem("v", "k", ttl=60.0, headers={"h": "1"}, priority=3)
            (item_id,) = await storage.put_many("q", [new])
            woken.clear()  # the put's own wake
            blocker = await asyncpg.connect(pg.DSN)
            try:
                hold = blocker.transaction()
                await hold.start()
                # The take's statement waits behind this lock; its request goes away then.
                await blocker.execute(f'LOCK TABLE "{schema}".items IN EXCLUSIVE MODE')
                take = asyncio.create_task(storage.take_many("q", None, 1))
                for _ in range(500):
                    if await _waiting_on_lock(blocker):
                        break
                    await asyncio.sleep(0.01)
                else:
                    raise AssertionError("the take never reached the database")
                take.cancel()
                await hold.rollback()
            finally:
                await blocker.close()
            for _ in range(500):  # put back by a task of its own, which then wakes
                if woken:
                    break
                await asyncio.sleep(0.01)
            assert woken == ["q"]  # the item is ready again: consumers are told
            info = await storage.info("q")
            assert (info.size, info.taken) == (1, 0)
            back = await storage.peek("q", None)
            assert back is not None
            assert (back.id, back.value, back.key, back.headers, back.priority) == (
                item_id, "v", "k", {"h": "1"}, 3,
            )  # fmt: skip
            clock.now += 61  # its ttl still runs out
            await storage.run_deadlines()
            info = await storage.info("q")
            assert (info.size, info.expired) == (0, 1)
        finally:
            await storage.close()
