"""What each queue did lately: a fixed-size ring of samples per queue, kept by the server
so that the dashboard and `GET /stats?history=...` show the minutes and hours before a
page was opened.

Pure and bounded: `History.record` is given a `Stats` snapshot (read by one background
task from the counters storage keeps anyway, `core/stats.py`), so a put or a take pays
nothing for it. Two tiers, each a ring of `array('f')` per queue (4 bytes a value):

- `FINE`: one sample a second for 10 minutes (600 samples);
- `COARSE`: one sample a minute for 6 hours (360 samples).

A queue costs `BYTES_PER_QUEUE` (38,400 bytes of values) plus a fixed overhead per
array; at most `MAX_QUEUES` queues are tracked (the first ones seen; a deleted queue's
rings are dropped and its slot freed), so the whole history stays under `MEMORY_BOUND`
bytes whatever the number of queues. Depths are the values at the sample; rates are the
running totals' increase over the tier's step, per second. A value not sampled (the
queue did not exist yet, or the sampler missed a tick) is NaN, `null` on the wire.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from disqueue.core.stats import QueueStats, Stats

#: The sampled fields, in their order in a ring: the depths, then the rates.
GAUGES = ("ready", "delayed", "in_flight", "consumers", "oldest_age")
#: Rate field → the running total of `QueueStats` it is the rate of (items per second;
#: `_Ring.record` reads the totals in this order).
RATES = {
    "put_rate": "put",
    "take_rate": "taken",
    "ack_rate": "acked",
    "redelivery_rate": "redelivered",
    "expiry_rate": "expired",
    "dead_letter_rate": "dead_lettered",
}
FIELDS = (*GAUGES, *RATES)
_WIDTH = len(FIELDS)
_NAN = math.nan
_GAP = array("f", [_NAN]) * _WIDTH  # one sample of nothing
_NO_RATES = (_NAN,) * len(RATES)


@dataclass(frozen=True, slots=True)
class Tier:
    """One sample every `step` seconds, the last `size` of them."""

    step: float
    size: int

    @property
    def span(self) -> float:
        return self.step * self.size


FINE = Tier(1.0, 600)
COARSE = Tier(60.0, 360)
TIERS = (FINE, COARSE)
#: Queues tracked at most (others appear in `/stats` but have no history).
MAX_QUEUES = 1000
#: Bytes of sample values per tracked queue.
BYTES_PER_QUEUE = sum(tier.size for tier in TIERS) * _WIDTH * 4
#: What a tracked queue costs beyond its values (arrays' headers, its entry, its last
#: totals), generously: the unit test measures the real figure against it.
OVERHEAD_PER_QUEUE = 2048
#: The bound on the history's memory, whatever the number of queues (about 40 MB).
MEMORY_BOUND = MAX_QUEUES * (BYTES_PER_QUEUE + OVERHEAD_PER_QUEUE) + 65536


class _Ring:
    """One tier: when each slot was sampled (shared by all queues), and per queue
    `size * _WIDTH` values, slot after slot."""

    def __init__(self, tier: Tier) -> None:
        self.tier = tier
        self.times = array("d", [_NAN]) * tier.size
        self.head = -1  # the slot written last
        self.slot_of_time = -1  # floor(time / step) of the last sample
        self.values: dict[str, array[float]] = {}
        self.totals: dict[str, tuple[float, tuple[int, ...]]] = {}  # time, the totals then

    def due(self, now: float) -> bool:
        return math.floor(now / self.tier.step) > self.slot_of_time

    def record(self, now: float, queues: Iterable[QueueStats], tracked: set[str]) -> None:
        self.slot_of_time = math.floor(now / self.tier.step)
        self.head = (self.head + 1) % self.tier.size
        head, width, size = self.head, _WIDTH, self.tier.size
        self.times[head] = now
        at, gap = head * width, _GAP
        seen, rings, last = set(), self.values, self.totals
        for queue in queues:
            name = queue.name
            if name not in tracked:
                continue
            seen.add(name)
            values = rings.get(name)
            if values is None:
                values = rings[name] = _GAP * size
            totals = (queue.put, queue.taken, queue.acked, queue.redelivered, queue.expired,
                      queue.dead_lettered)  # fmt: skip
            before = last.get(name)
            last[name] = (now, totals)
            age = _NAN if queue.oldest_age is None else queue.oldest_age
            gauges = (queue.ready, queue.delayed, queue.in_flight, queue.consumers, age)
            if before is None or now <= before[0]:
                values[at : at + width] = array("f", (*gauges, *_NO_RATES))
            else:
                elapsed, was = now - before[0], before[1]
                rates = (
                    max(0, total - old) / elapsed for total, old in zip(totals, was, strict=True)
                )
                values[at : at + width] = array("f", (*gauges, *rates))
        for name in rings.keys() - seen:  # tracked but not in this snapshot: a gap
            rings[name][at : at + width] = gap

    def drop(self, name: str) -> None:
        self.values.pop(name, None)
        self.totals.pop(name, None)

    def window(self, seconds: float, now: float) -> list[int]:
        """The slots sampled within the last `seconds`, oldest first."""
        size, out = self.tier.size, []
        for back in range(min(size, math.ceil(seconds / self.tier.step) + 1)):
            slot = (self.head - back) % size
            at = self.times[slot]
            if math.isnan(at) or at < now - seconds:
                break
            out.append(slot)
        out.reverse()
        return out


class History:
    """The rings of every tracked queue. `clock` gives Unix time (a fake one in tests)."""

    def __init__(
        self,
        clock: Callable[[], float],
        tiers: tuple[Tier, ...] = TIERS,
        max_queues: int = MAX_QUEUES,
    ) -> None:
        self.clock = clock
        self.max_queues = max_queues
        self._rings = [_Ring(tier) for tier in tiers]
        self._tracked: set[str] = set()

    @property
    def span(self) -> float:
        """The longest window it keeps (seconds)."""
        return max(ring.tier.span for ring in self._rings)

    @property
    def tracked(self) -> frozenset[str]:
        return frozenset(self._tracked)

    def record(self, stats: Stats) -> None:
        """Take the snapshot into each tier whose step has come; forget deleted queues
        and start tracking new ones while there is room."""
        now = self.clock()
        present = {queue.name for queue in stats.queues}
        for name in self._tracked - present:
            self._tracked.discard(name)
            for ring in self._rings:
                ring.drop(name)
        for queue in stats.queues:
            if len(self._tracked) >= self.max_queues:
                break
            self._tracked.add(queue.name)
        for ring in self._rings:
            if ring.due(now):
                ring.record(now, stats.queues, self._tracked)

    def window(
        self, seconds: float, names: Iterable[str], fields: Iterable[str] = FIELDS
    ) -> dict[str, Any]:
        """The samples of the last `seconds` of each queue of `names` (those tracked),
        from the finest tier that spans them: `{"step", "times", "queues": {name:
        {field: [values]}}}`, NaN where nothing was sampled."""
        now = self.clock()
        ring = next((r for r in self._rings if r.tier.span >= seconds), self._rings[-1])
        slots = ring.window(seconds, now)
        wanted = [(field, FIELDS.index(field)) for field in fields]
        runs = _runs(slots)
        queues: dict[str, dict[str, list[float]]] = {}
        for name in names:
            values = ring.values.get(name)
            if values is None:
                continue
            series = queues[name] = {}
            for field, index in wanted:
                out: list[float] = []
                for first, last in runs:  # a field's values, one slice per run of slots
                    out += values[first * _WIDTH + index : last * _WIDTH + index + 1 : _WIDTH]
                series[field] = out
        return {
            "step": ring.tier.step,
            "times": [ring.times[slot] for slot in slots],
            "queues": queues,
        }


def _runs(slots: list[int]) -> list[tuple[int, int]]:
    """`slots` (consecutive but for the ring's wrap) as runs of first and last slot."""
    runs: list[tuple[int, int]] = []
    for slot in slots:
        if runs and runs[-1][1] == slot - 1:
            runs[-1] = (runs[-1][0], slot)
        else:
            runs.append((slot, slot))
    return runs
