"""Signals that stop consumers: asyncio keeps one handler per signal and loop, so the
consumers of a process share it."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from disqueue.client.consumer import AsyncConsumer

log = logging.getLogger("disqueue.client")


class SignalStops:
    """The consumers each signal stops, per event loop: asyncio keeps one handler per
    signal, so several consumers in one process share it."""

    _loops: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SignalStops]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.consumers: dict[int, set[AsyncConsumer]] = {}

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> SignalStops:
        """The table of `loop` (made on first use)."""
        stops = cls._loops.get(loop)
        if stops is None:
            stops = cls._loops[loop] = cls(loop)
        return stops

    def add(self, sig: int, consumer: AsyncConsumer) -> bool:
        """Stop `consumer` on `sig`; False where signals cannot be handled here."""
        if sig not in self.consumers:
            try:
                self.loop.add_signal_handler(sig, self._stop, sig)
            except (NotImplementedError, RuntimeError, ValueError):
                return False
            self.consumers[sig] = set()
        self.consumers[sig].add(consumer)
        return True

    def discard(self, sig: int, consumer: AsyncConsumer) -> None:
        """No longer stop `consumer` on `sig`; the last one gives the signal back."""
        consumers = self.consumers.get(sig)
        if consumers is None:
            return
        consumers.discard(consumer)
        if not consumers:
            del self.consumers[sig]
            self.loop.remove_signal_handler(sig)

    def _stop(self, sig: int) -> None:
        log.info("signal %d: stopping %d consumer(s)", sig, len(self.consumers.get(sig, ())))
        for consumer in list(self.consumers.get(sig, ())):
            consumer.stop()
