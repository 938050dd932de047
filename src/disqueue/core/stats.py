"""What the queues are doing, in one snapshot: for `/stats`, `/metrics` and `POST /queue`.

Read at the moment it is asked for (nothing is updated on the hot path): storage
gives each queue's counts and totals, the core adds its waiting consumers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from disqueue.latency import LatencySnapshot
from disqueue.models import QueueInfo


@dataclass(frozen=True, slots=True)
class QueueStats:
    """One queue now: what it holds, who waits on it, and its running totals."""

    name: str
    ready: int
    delayed: int
    in_flight: int
    consumers: int  # wants waiting (WebSocket and long polls)
    oldest_age: float | None  # seconds since the oldest ready item was put
    put: int
    taken: int
    acked: int
    expired: int
    dead_lettered: int
    paused: bool
    retry_delays: list[float] | None
    ordered: bool
    #: Deliveries of items delivered before (a lease ran out or was released), since
    #: this server process started: one node's own, as `consumers` is.
    redelivered: int = 0

    @classmethod
    def of(cls, info: QueueInfo, consumers: int, now: float, redelivered: int = 0) -> QueueStats:
        age = None if info.oldest is None else max(0.0, now - info.oldest)
        return cls(
            info.name, info.size, info.delayed, info.in_flight, consumers, age, info.put,
            info.taken, info.acked, info.expired, info.dead_lettered, info.paused,
            _delays(info.settings.retry_delays), info.settings.ordered, redelivered,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Stats:
    """Every queue, oldest first, at Unix time `time`, and the storage's commit times
    (None for a backend that does not time its commits)."""

    time: float
    storage: str
    queues: list[QueueStats]
    commits: LatencySnapshot | None

    def to_wire(self) -> dict[str, Any]:
        """The `/stats` payload (API.md, server additions)."""
        return {
            "time": self.time,
            "storage": self.storage,
            "queues": [asdict(queue) for queue in self.queues],
        }


def queue_info(info: QueueInfo, consumers: int) -> dict[str, Any]:
    """The `POST /queue` payload (API.md Part 2, "Queue information")."""
    return {
        "name": info.name,
        "size": info.size,
        "delayed": info.delayed,
        "in_flight": info.in_flight,
        "consumers": consumers,
        "created": info.created.isoformat(),
        "lease": info.settings.lease,
        "max_attempts": info.settings.max_attempts,
        "dead_letter": info.settings.dead_letter,
        "max_items": info.settings.max_items,
        "retry_delays": _delays(info.settings.retry_delays),
        "delay": info.settings.delay,
        "ttl": info.settings.ttl,
        "ordered": info.settings.ordered,
        "paused": info.paused,
        "put": info.put,
        "taken": info.taken,
        "acked": info.acked,
        "expired": info.expired,
        "dead_lettered": info.dead_lettered,
    }


def _delays(delays: tuple[float, ...] | None) -> list[float] | None:
    return None if delays is None else list(delays)
