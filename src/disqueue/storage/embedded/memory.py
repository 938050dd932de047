"""The in-memory backend: fast, and nothing survives a restart.

All the rules live in `RuleStorage`; this backend only keeps each item's values.
"""

from __future__ import annotations

from datetime import datetime

from disqueue.models import QueueSettings
from disqueue.storage.common import Totals
from disqueue.storage.embedded.persistence import Row, Stored
from disqueue.storage.embedded.rules import RuleStorage

# An item as kept here: (id, key, value, attempts). A tuple of strings and an int is
# something Python's garbage collector stops tracking, so a million queued items add
# nothing to the collector's full passes (an object per item made them pause 100+ ms).
_Values = tuple[str, str | None, str, int]


class MemoryStorage(RuleStorage):
    """Items in a dict by position; everything else in `RuleStorage`'s memory."""

    kind = "memory"

    def __init__(self) -> None:
        super().__init__()
        self._values: dict[int, _Values] = {}
        self._next_queue_id = 0

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        await self._stop_chores()

    async def _p_create(self, name: str, created: datetime, settings: QueueSettings) -> int:
        self._next_queue_id += 1
        return self._next_queue_id

    async def _p_drop(self, queue_id: int, positions: list[int]) -> None:
        for pos in positions:
            self._values.pop(pos, None)

    async def _p_insert(
        self, queue_id: int, rows: list[Row], dedup: list[tuple[str, str, float]]
    ) -> None:
        for row in rows:
            self._values[row.pos] = (row.id, row.key, row.value, row.attempts)

    async def _p_take(self, positions: list[int]) -> list[Stored | None]:
        return [Stored(*self._values.pop(pos)) for pos in positions]

    async def _p_lease(self, positions: list[int], until: float) -> list[Stored | None]:
        leased: list[Stored | None] = []
        for pos in positions:
            item_id, key, value, attempts = self._values[pos]
            self._values[pos] = (item_id, key, value, attempts + 1)
            leased.append(Stored(item_id, key, value, attempts + 1))
        return leased

    async def _p_peek(self, pos: int) -> Stored | None:
        values = self._values.get(pos)
        return None if values is None else Stored(*values)

    async def _p_delete(self, positions: list[int]) -> None:
        for pos in positions:
            self._values.pop(pos, None)

    async def _p_requeue(self, pos: int, new_pos: int, visible_at: float | None) -> None:
        self._values[new_pos] = self._values.pop(pos)

    async def _p_touch(self, pos: int, until: float) -> None:
        return None

    async def _p_move(self, pos: int, queue_id: int, new_pos: int) -> None:
        self._values[new_pos] = self._values.pop(pos)

    def _p_count(self, queue_id: int, totals: Totals) -> None:
        return None
