"""What both families of backends share: running totals, the order of creates and
deletes of one queue name, and how an item's headers are kept. (The rules themselves
are `disqueue.core.contract`.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, NamedTuple, TypeVar

import orjson

T = TypeVar("T")


class Totals(NamedTuple):
    """Changes to a queue's running totals."""

    put: int = 0
    taken: int = 0
    acked: int = 0
    expired: int = 0
    dead_lettered: int = 0

    def plus(self, other: Totals) -> Totals:
        return Totals(*(a + b for a, b in zip(self, other, strict=True)))


class NameChanges:
    """Creates and deletes of queue names on their way to storage. A change of a name
    waits for the one before it, so they apply in the order they were asked for (a
    create racing a delete of the same name makes the queue anew)."""

    def __init__(self) -> None:
        self._changing: dict[str, asyncio.Future[Any]] = {}

    async def settled(self, name: str) -> None:
        """Wait until no create or delete of `name` is on its way to storage. (Returns
        at once, without yielding, when none is.)"""
        while (change := self._changing.get(name)) is not None and not change.done():
            await asyncio.wait([change])

    async def run(self, name: str, work: Awaitable[T]) -> T:
        """Do `work`, a change of `name`, letting later changes of the name wait for it."""
        change = asyncio.ensure_future(work)
        self._changing[name] = change
        try:
            return await change
        finally:
            del self._changing[name]


def encode_headers(headers: dict[str, str] | None) -> str | None:
    """Headers as a backend keeps them: JSON text, None for none."""
    return orjson.dumps(headers).decode() if headers else None


def decode_headers(text: str | None) -> dict[str, str] | None:
    """The headers kept as `text` (`encode_headers`)."""
    return orjson.loads(text) if text else None
