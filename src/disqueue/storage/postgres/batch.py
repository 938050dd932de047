"""Requests that arrive while the database is busy go to it together.

A put or a take alone is one round trip and one commit; most of its cost is that
trip, not the rows. A `Combiner` runs at most one statement per kind at a time (all
puts are one kind; takes are one kind per queue, key and lease) and up to `lanes` of
different kinds at once. A request of a kind that is not running goes at once; one of
a kind that is running waits with the others of its kind, and when the statement ends
they all go as the next one (all the waiting puts in one INSERT; all the waiting takes
of one queue and key in one take of their added counts, shared out in arrival order).
A lone request never waits; a busy node does fewer, larger transactions, and two
statements of one kind never compete for the same rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
J = TypeVar("J")
R = TypeVar("R")


class Combiner(Generic[K, J, R]):
    """Jobs of one key, gathered while that key's batch runs, run as the next batch.

    `run(key, jobs)` returns one result per job, in order. `size(job)` bounds a batch
    to `limit` (a batch always takes at least one job). A job whose waiter was
    cancelled while its batch ran gets its result handed to `orphan(key, result)`.
    """

    def __init__(
        self,
        run: Callable[[K, list[J]], Awaitable[list[R]]],
        *,
        lanes: int,
        limit: int,
        size: Callable[[J], int] = lambda job: 1,
        orphan: Callable[[K, R], None] = lambda key, result: None,
    ) -> None:
        self._run, self._lanes, self._limit = run, lanes, limit
        self._size, self._orphan = size, orphan
        self._pending: dict[K, list[tuple[J, asyncio.Future[R]]]] = {}
        self._busy = 0
        self._running: set[K] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, key: K, job: J) -> R:
        """Run `job` (alone, or with others of `key`) and return its result."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append((job, future))
        if self._busy < self._lanes:
            self._busy += 1
            task = asyncio.get_running_loop().create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    def _next_batch(self) -> tuple[K, list[tuple[J, asyncio.Future[R]]]] | None:
        """The jobs of the key waiting longest that is not running; None if every
        waiting key is running (its lane takes them when it is done)."""
        free = [key for key in self._pending if key not in self._running][:1]
        if not free:
            return None
        key = free[0]
        # A waiter that went away (its request was cancelled) wants nothing done.
        waiting = [entry for entry in self._pending[key] if not entry[1].done()]
        if not waiting:
            del self._pending[key]
            return self._next_batch()
        self._pending[key] = waiting
        batch, total = [waiting[0]], self._size(waiting[0][0])
        while (
            len(batch) < len(waiting) and total + self._size(waiting[len(batch)][0]) <= self._limit
        ):
            total += self._size(waiting[len(batch)][0])
            batch.append(waiting[len(batch)])
        del waiting[: len(batch)]
        if not waiting:
            del self._pending[key]
        return key, batch

    async def _drain(self) -> None:
        try:
            while (chosen := self._next_batch()) is not None:
                key, batch = chosen
                self._running.add(key)
                try:
                    results = await self._run(key, [job for job, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:  # the lane itself is cancelled (shutdown)
                    for _, future in batch:
                        future.cancel()
                    raise
                finally:
                    self._running.discard(key)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        self._orphan(key, result)
                    else:
                        future.set_result(result)
        finally:
            self._busy -= 1
