"""The delivery contract's decisions, one by one (the model test holds the backends to
them; these pin the decisions themselves)."""

from __future__ import annotations

import pytest

from disqueue.core import contract
from disqueue.core.contract import DeadLetter, Drop, Expire, LeaseRef, Requeue
from disqueue.models import NewItem, QueueSettings

NOW = 1_000.0


def test_a_receipt_names_its_item_and_delivery() -> None:
    """A receipt is the item id and a token; text that cannot be one names nothing."""
    text = contract.receipt("abc1", "t9")
    assert contract.parse_receipt(text) == LeaseRef("abc1", "t9")
    for bogus in ("", "abc1", ".t9", "abc1.", "."):
        assert contract.parse_receipt(bogus) is None
    assert contract.parse_receipt("a.b.c") == LeaseRef("a.b", "c")


def test_a_lease_ref_names_the_live_delivery_or_any() -> None:
    """With a token only that delivery; without one (an item id) whatever lease it has."""
    assert contract.names_lease(LeaseRef("i", "t"), "t")
    assert not contract.names_lease(LeaseRef("i", "old"), "t")
    assert contract.names_lease(LeaseRef("i"), "t")


@pytest.mark.parametrize(
    ("attempts", "settings", "delay", "exists", "ttl_at", "outcome"),
    [
        (1, QueueSettings(), 0.0, False, None, Requeue(None)),
        (1, QueueSettings(), 5.0, False, None, Requeue(NOW + 5)),
        (1, QueueSettings(max_attempts=2, dead_letter="d"), 0.0, True, None, Requeue(None)),
        (2, QueueSettings(max_attempts=2, dead_letter="d"), 5.0, True, None, DeadLetter("d")),
        (2, QueueSettings(max_attempts=2, dead_letter="d"), 0.0, False, None, Drop()),
        (2, QueueSettings(max_attempts=2), 0.0, False, None, Drop()),
        (1, QueueSettings(), 0.0, False, NOW, Expire()),
        (9, QueueSettings(max_attempts=2, dead_letter="d"), 0.0, True, NOW - 1, Expire()),
        (1, QueueSettings(), 0.0, False, NOW + 1, Requeue(None)),
        (1, QueueSettings(retry_delays=(2.0, 7.0)), None, False, None, Requeue(NOW + 2)),
        (5, QueueSettings(retry_delays=(2.0, 7.0)), None, False, None, Requeue(NOW + 7)),
        (1, QueueSettings(retry_delays=(2.0,)), 0.0, False, None, Requeue(None)),
        (1, QueueSettings(), None, False, None, Requeue(None)),
    ],
)
def test_after_lease(
    attempts: int,
    settings: QueueSettings,
    delay: float | None,
    exists: bool,
    ttl_at: float | None,
    outcome: contract.Outcome,
) -> None:
    """Where an item goes when its lease ends without an ack."""
    assert contract.after_lease(attempts, settings, delay, NOW, exists, ttl_at) == outcome


def test_put_placement_and_limits() -> None:
    """A put's delay and ttl in time; max_items counts what is held."""
    assert contract.placement(NewItem("v"), QueueSettings(), NOW) == (None, None)
    assert contract.placement(NewItem("v", delay=2, ttl=3), QueueSettings(), NOW) == (
        NOW + 2, NOW + 3,
    )  # fmt: skip
    assert not contract.full(4, 1, QueueSettings(max_items=5))
    assert contract.full(5, 1, QueueSettings(max_items=5))
    assert not contract.full(10**6, 1, QueueSettings())


def test_time_edges() -> None:
    """At its end exactly a lease has ended, a ttl has ended and a dedup claim is over."""
    assert not contract.lease_live(NOW, NOW) and contract.lease_live(NOW + 0.001, NOW)
    assert contract.expired(NOW, NOW) and not contract.expired(None, NOW)
    assert not contract.dedup_open(NOW, NOW) and contract.dedup_open(contract.dedup_until(NOW), NOW)
    assert contract.takeable(False, None, NOW + 1, NOW)
    assert not contract.takeable(False, None, NOW, NOW)
    assert not contract.takeable(False, NOW + 1, None, NOW)
    assert not contract.takeable(True, None, None, NOW)


def test_due_order() -> None:
    """Lease ends first, then delay ends, then ttl ends; by time; items going to the
    front at one moment from the back, so that they keep their order."""
    due = [
        ("ttl", 1.0, 5), ("delay", 1.0, 7), ("delay", 1.0, -3), ("delay", 1.0, -4),
        ("lease", 2.0, 1), ("lease", 1.0, 2), ("lease", 1.0, 3),
    ]  # fmt: skip
    ordered = sorted(due, key=lambda d: contract.due_order(*d))  # type: ignore[arg-type]
    assert ordered == [
        ("lease", 1.0, 3), ("lease", 1.0, 2), ("lease", 2.0, 1),
        ("delay", 1.0, -3), ("delay", 1.0, -4), ("delay", 1.0, 7), ("ttl", 1.0, 5),
    ]  # fmt: skip


def test_retry_delay_purge_and_pause() -> None:
    """The n-th delivery's retry delay; what a purge drops; a paused queue delivers nothing."""
    delays = QueueSettings(retry_delays=(1.0, 4.0, 9.0))
    assert [contract.retry_delay(n, delays) for n in (1, 2, 3, 4, 10)] == [1, 4, 9, 9, 9]
    assert contract.retry_delay(3, QueueSettings()) == 0.0
    assert contract.purged(False, False) and not contract.purged(True, False)
    assert contract.purged(True, True)
    assert contract.takeable(False, None, None, NOW)
    assert not contract.takeable(False, None, None, NOW, paused=True)
