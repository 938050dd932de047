"""A latency histogram kept in plain numbers, for parts that must not know Prometheus.

A storage backend times each commit here (from its own thread); the metrics edge
reads it at scrape time and exposes it as a Prometheus histogram.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

#: Upper bounds (seconds) of the buckets: from 100 µs (no fsync) to 2.5 s (a slow disk).
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
           0.5, 1.0, 2.5)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LatencySnapshot:
    """Counts per bucket (not cumulative; the last one is above every bound), their
    sum in seconds, and the bounds."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    total: float

    @property
    def count(self) -> int:
        return sum(self.counts)


class Latencies:
    """Observations counted per bucket. One thread observes, any thread may read: a
    read may miss the observation under way, never corrupt one."""

    __slots__ = ("_counts", "_total")

    def __init__(self) -> None:
        self._counts = [0] * (len(BUCKETS) + 1)
        self._total = 0.0

    def observe(self, seconds: float) -> None:
        self._counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self._total += seconds

    def snapshot(self) -> LatencySnapshot:
        return LatencySnapshot(BUCKETS, tuple(self._counts), self._total)
