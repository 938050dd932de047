"""The server's history of the queues (core/history.py) with a fake clock: what a sample
holds, rates from the running totals, the two tiers, gaps, deleted and untracked queues,
and the memory bound the docs state, measured with 1,000 queues over 6 hours."""

from __future__ import annotations

import gc
import itertools
import math
import sys
import time
from types import FunctionType, MethodType, ModuleType

import pytest

from disqueue.core.history import (
    COARSE,
    FIELDS,
    FINE,
    MAX_QUEUES,
    MEMORY_BOUND,
    History,
    Tier,
)
from disqueue.core.stats import QueueStats, Stats

T0 = 1_800_000_000.0  # a whole minute


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def queue(name: str, ready: int = 0, put: int = 0, taken: int = 0, **more: object) -> QueueStats:
    fields: dict[str, object] = {
        "name": name, "ready": ready, "delayed": 0, "in_flight": 0, "consumers": 0,
        "oldest_age": None, "put": put, "taken": taken, "acked": 0, "expired": 0,
        "dead_lettered": 0, "paused": False, "retry_delays": None, "ordered": False,
    }  # fmt: skip
    fields.update(more)
    return QueueStats(**fields)  # type: ignore[arg-type]


def stats(clock: Clock, *queues: QueueStats) -> Stats:
    return Stats(clock.now, "memory", list(queues), None)


def test_a_sample_holds_depths_and_rates_from_the_totals() -> None:
    clock = Clock()
    history = History(clock)
    history.record(stats(clock, queue("a", ready=5, put=100, taken=10, oldest_age=3.5)))
    clock.now += 1
    history.record(stats(clock, queue("a", ready=7, put=130, taken=12, acked=2, in_flight=4)))
    window = history.window(10, ["a"])
    assert window["step"] == FINE.step
    assert window["times"] == [T0, T0 + 1]
    a = window["queues"]["a"]
    assert set(a) == set(FIELDS)
    assert a["ready"] == [5, 7]
    assert a["in_flight"] == [0, 4]
    assert a["oldest_age"][0] == 3.5 and math.isnan(a["oldest_age"][1])  # none ready
    assert math.isnan(a["put_rate"][0])  # no reading before the first
    assert a["put_rate"][1] == 30 and a["take_rate"][1] == 2 and a["ack_rate"][1] == 2


def test_rates_are_per_second_over_the_real_interval_and_never_negative() -> None:
    """A sampler that missed ticks gives the average rate since its last sample; a total
    that went down (a queue deleted and made again) is no negative rate."""
    clock = Clock()
    history = History(clock)
    history.record(stats(clock, queue("a", put=0)))
    clock.now += 4
    history.record(stats(clock, queue("a", put=40)))
    clock.now += 1
    history.record(stats(clock, queue("a", put=3)))
    rates = history.window(60, ["a"], ["put_rate"])["queues"]["a"]["put_rate"]
    assert rates[1:] == [10, 0]


def test_the_fields_asked_for_and_the_window() -> None:
    clock = Clock()
    history = History(clock)
    for second in range(30):
        clock.now = T0 + second
        history.record(stats(clock, queue("a", ready=second), queue("b", ready=2 * second)))
    window = history.window(9.5, ["b", "unknown"], ["ready"])
    assert list(window["queues"]) == ["b"]  # an unknown queue has no entry
    assert window["queues"]["b"] == {"ready": [2 * s for s in range(20, 30)]}
    assert window["times"] == [T0 + s for s in range(20, 30)]


def test_the_fine_tier_keeps_ten_minutes_the_coarse_six_hours() -> None:
    """Past the fine ring's span the coarse tier answers, a sample a minute."""
    clock = Clock()
    history = History(clock)
    for second in range(0, 2 * 3600, 5):
        clock.now = T0 + second
        history.record(stats(clock, queue("a", ready=second, put=second)))
    fine = history.window(FINE.span, ["a"], ["ready"])
    assert fine["step"] == FINE.step
    assert len(fine["times"]) == FINE.span / 5 + 1  # a sample every 5 s, ends included
    coarse = history.window(3600, ["a"], ["ready", "put_rate"])
    assert coarse["step"] == COARSE.step
    assert len(coarse["times"]) == 60  # the last at 7140 s, the hour before it from 3600 s
    assert all(b - a == COARSE.step for a, b in itertools.pairwise(coarse["times"]))
    assert coarse["queues"]["a"]["put_rate"] == [1.0] * 60
    assert history.span == COARSE.span


def test_rings_wrap_and_keep_only_their_size() -> None:
    clock = Clock()
    history = History(clock, tiers=(Tier(1.0, 10),))
    for second in range(35):
        clock.now = T0 + second
        history.record(stats(clock, queue("a", ready=second)))
    window = history.window(1000, ["a"], ["ready"])
    assert window["queues"]["a"]["ready"] == list(range(25, 35))


def test_a_queue_that_appears_later_has_no_values_before() -> None:
    clock = Clock()
    history = History(clock)
    history.record(stats(clock, queue("a")))
    clock.now += 1
    history.record(stats(clock, queue("a"), queue("b", ready=3)))
    ready = history.window(60, ["b"], ["ready"])["queues"]["b"]["ready"]
    assert math.isnan(ready[0]) and ready[1] == 3


def test_a_deleted_queue_is_forgotten_and_frees_its_place() -> None:
    clock = Clock()
    history = History(clock, max_queues=2)
    history.record(stats(clock, queue("a"), queue("b"), queue("c")))
    assert history.tracked == {"a", "b"}  # the first ones seen, up to the cap
    clock.now += 1
    history.record(stats(clock, queue("b"), queue("c")))
    assert history.tracked == {"b", "c"}
    assert "a" not in history.window(60, ["a", "b", "c"])["queues"]


def test_samples_in_the_same_step_count_once() -> None:
    """Two snapshots within one second (a sampler woken twice) make one sample."""
    clock = Clock()
    history = History(clock)
    history.record(stats(clock, queue("a", ready=1)))
    clock.now += 0.4
    history.record(stats(clock, queue("a", ready=2)))
    assert history.window(60, ["a"], ["ready"])["queues"]["a"]["ready"] == [1]


def deep_size(root: object) -> int:
    """Bytes of `root` and of everything it holds (sys.getsizeof of each object reached,
    once; classes, functions and modules are shared, not counted)."""
    seen: set[int] = set()
    stack, total = [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type | ModuleType | FunctionType | MethodType):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def _filled(queues: int, seconds: float, every: float) -> History:
    """A history after `seconds` of samples of `queues` queues, taken every `every`
    simulated seconds, with a fake clock."""
    names = [f"queue-{n:04d}" for n in range(queues)]
    clock = Clock()
    history = History(clock)
    for step in range(int(seconds / every)):
        clock.now = T0 + step * every
        history.record(stats(clock, *(queue(name, ready=step, put=step) for name in names)))
    history.clock = time.time  # the fake clock is not part of what it holds
    return history


def test_memory_bound_with_1000_queues_for_6_hours() -> None:
    """6 simulated hours of 1,000 queues (a sample every 36 s: 600 of them, so that both
    rings are full and wrapped): what the history holds stays under MEMORY_BOUND, the
    figure the docs state. (Rings are fixed-size: a sample a second fills them alike.)"""
    history = _filled(MAX_QUEUES, 6 * 3600, 36)
    held = deep_size(history)
    print(f"history of {MAX_QUEUES} queues over 6 h: {held:,} bytes (bound {MEMORY_BOUND:,})")
    assert len(history.tracked) == MAX_QUEUES
    assert len(history.window(COARSE.span, ["queue-0000"])["times"]) == COARSE.size
    assert held <= MEMORY_BOUND


@pytest.mark.parametrize("queues", [MAX_QUEUES + 500])
def test_memory_stays_bounded_with_more_queues_than_tracked(queues: int) -> None:
    history = _filled(queues, 3600, 60)
    held = deep_size(history)
    assert len(history.tracked) == MAX_QUEUES
    assert held <= MEMORY_BOUND
