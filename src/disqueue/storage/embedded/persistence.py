"""What an embedded backend provides to `RuleStorage`: where items are kept.

The rules (`storage/rules.py`) decide; these hooks only make a decision durable (or,
for the memory backend, keep the values). Each returns once its change is done; the
rules touch memory around them in the right order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import NamedTuple

from disqueue.models import QueueSettings
from disqueue.storage.common import Totals


class Stored(NamedTuple):
    """An item as a backend hands it back."""

    id: str
    key: str | None
    value: str
    attempts: int


class Row(NamedTuple):
    """An item to store: where, what, and its put options as Unix times."""

    pos: int
    id: str
    key: str | None
    value: str
    attempts: int
    visible_at: float | None
    ttl_at: float | None


class Persistence(ABC):
    """The persistence hooks of an embedded backend."""

    @abstractmethod
    async def _p_create(self, name: str, created: datetime, settings: QueueSettings) -> int: ...
    @abstractmethod
    async def _p_drop(self, queue_id: int, positions: list[int]) -> None: ...
    @abstractmethod
    async def _p_insert(
        self, queue_id: int, rows: list[Row], dedup: list[tuple[str, str, float]]
    ) -> None: ...
    @abstractmethod
    async def _p_take(self, positions: list[int]) -> list[Stored | None]: ...
    @abstractmethod
    async def _p_lease(self, positions: list[int], until: float) -> list[Stored | None]: ...
    @abstractmethod
    async def _p_peek(self, pos: int) -> Stored | None: ...
    @abstractmethod
    async def _p_delete(self, positions: list[int]) -> None: ...
    @abstractmethod
    async def _p_requeue(self, pos: int, new_pos: int, visible_at: float | None) -> None: ...
    @abstractmethod
    async def _p_touch(self, pos: int, until: float) -> None: ...
    @abstractmethod
    async def _p_move(self, pos: int, queue_id: int, new_pos: int) -> None: ...
    @abstractmethod
    def _p_count(self, queue_id: int, totals: Totals) -> None: ...
