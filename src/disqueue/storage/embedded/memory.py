"""The in-memory backend: fast, and nothing survives a restart.

All the rules live in `RuleStorage`; `MemoryPersistence` only keeps each item's values.
"""

from __future__ import annotations

import time
from datetime import datetime

from disqueue.models import QueueSettings
from disqueue.storage.common import Totals
from disqueue.storage.embedded.persistence import Restore, Row, Stored, T
from disqueue.storage.embedded.rules import RuleStorage
from disqueue.storage.embedded.state import Clock

# An item as kept here: (id, key, value, attempts, headers). A tuple of strings and an int is
# something Python's garbage collector stops tracking, so a million queued items add
# nothing to the collector's full passes (an object per item made them pause 100+ ms).
_Values = tuple[str, str | None, str, int, str | None]  # … and the headers' JSON text


class MemoryPersistence:
    """Items in a dict by position (the `Persistence` of the memory backend)."""

    def __init__(self) -> None:
        self._values: dict[int, _Values] = {}
        self._next_queue_id = 0

    async def open(self, restore: Restore[T]) -> T:
        return restore([], [], [])

    async def check(self) -> None:
        return None  # memory is there while the process runs

    async def close(self) -> None:
        return None

    async def create(self, name: str, created: datetime, settings: QueueSettings) -> int:
        self._next_queue_id += 1
        return self._next_queue_id

    async def drop(self, queue_id: int, positions: list[int]) -> None:
        for pos in positions:
            self._values.pop(pos, None)

    async def insert(
        self, queue_id: int, rows: list[Row], dedup: list[tuple[str, str, float]]
    ) -> None:
        for row in rows:
            self._values[row.pos] = (row.id, row.key, row.value, row.attempts, row.headers)

    async def take(self, positions: list[int]) -> list[Stored | None]:
        return [Stored(*self._values.pop(pos)) for pos in positions]

    async def lease(self, positions: list[int], until: float, token: str) -> list[Stored | None]:
        leased: list[Stored | None] = []
        for pos in positions:
            item_id, key, value, attempts, headers = self._values[pos]
            self._values[pos] = (item_id, key, value, attempts + 1, headers)
            leased.append(Stored(item_id, key, value, attempts + 1, headers))
        return leased

    async def peek(self, pos: int) -> Stored | None:
        values = self._values.get(pos)
        return None if values is None else Stored(*values)

    async def delete(self, positions: list[int]) -> None:
        for pos in positions:
            self._values.pop(pos, None)

    async def requeue(
        self, pos: int, new_pos: int, visible_at: float | None, attempts: int | None = None
    ) -> None:
        self._values[new_pos] = self._values.pop(pos)

    async def touch(self, pos: int, until: float) -> None:
        return None

    async def move(self, pos: int, queue_id: int, new_pos: int, origin: str, attempts: int) -> None:
        self._values[new_pos] = self._values.pop(pos)

    async def redrive(self, moves: list[tuple[int, int, int]]) -> None:
        for pos, _, new_pos in moves:
            item_id, key, value, _, headers = self._values.pop(pos)
            self._values[new_pos] = (item_id, key, value, 0, headers)

    async def change(self, queue_id: int, settings: QueueSettings) -> None:
        return None  # the rules keep them in memory

    async def pause(self, queue_id: int, paused: bool) -> None:
        return None  # the rules keep it in memory

    def count(self, queue_id: int, totals: Totals) -> None:
        return None


class MemoryStorage(RuleStorage):
    """The rules over `MemoryPersistence`."""

    def __init__(self, clock: Clock = time.time) -> None:
        super().__init__(MemoryPersistence(), "memory", clock)
