"""The in-memory queue index: FIFO, keys, fronts, and bounded dead entries."""

from __future__ import annotations

from disqueue.storage.embedded import index as index_module
from disqueue.storage.embedded.index import QueueIndex


def drain(index: QueueIndex, match: str | None = None) -> list[int]:
    out = []
    while (pos := index.head(match)) is not None:
        index.remove(pos)
        out.append(pos)
    return out


def test_fifo_and_keys() -> None:
    """Unkeyed heads follow arrival; keyed heads follow arrival within the key."""
    index = QueueIndex()
    for pos, match in enumerate(["a", None, "b", "a", None]):
        index.add(pos, match)
    assert index.head("a") == 0
    assert index.remove(0) == "a"
    assert drain(index, "a") == [3]
    assert drain(index) == [1, 2, 4]
    assert len(index) == 0


def test_front() -> None:
    """An item added at the front is the next head, keyed and unkeyed."""
    index = QueueIndex()
    index.add(1, "k")
    index.add(2, "k", front=True)
    assert index.head("k") == 2
    assert index.head(None) == 2
    assert index.positions() == [2, 1]


def test_key_lane_dropped_when_all_taken_unkeyed() -> None:
    """A key whose items all left through unkeyed takes keeps no memory."""
    index = QueueIndex()
    for pos in range(100):
        index.add(pos, f"key-{pos}")
    drain(index)
    assert index._levels[0].keys == {}


def test_compaction_bounds_dead_entries(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Keyed takes behind a stuck unkeyed head do not grow the arrival deque forever."""
    monkeypatch.setattr(index_module, "_COMPACT_MIN", 10)
    index = QueueIndex()
    index.add(0, None)  # never taken
    for pos in range(1, 1001):
        index.add(pos, "k")
        index.remove(index.head("k") or -1)
    assert len(index._levels[0].all.order) < 30
    assert index.head(None) == 0
    assert len(index) == 1


def test_restore_puts_the_item_back_in_its_place() -> None:
    """Undoing a removal (storage failed) keeps FIFO and lists the item once."""
    index = QueueIndex()
    index.add(1, None)
    index.add(2, "a")
    index.add(3, None)
    index.remove(2)
    index.restore(2, "a")
    assert index.positions() == [1, 2, 3]
    assert index.head("a") == 2
    head = index.head(None)
    assert head == 1
    index.remove(head)
    index.restore(head, None)  # its entry was at the head: still first
    assert drain(index) == [1, 2, 3]


def test_priorities() -> None:
    """The highest priority first, FIFO within one, keyed too; a front add goes to the
    front of its own priority; `oldest` is the lowest position whatever its priority;
    `restore` puts an item back in its priority."""
    priorities = {1: 5, 2: 9, 4: 5, 6: 5}
    index = QueueIndex(priorities)
    for pos, match in enumerate(["a", "a", "b", None, "a", None]):
        index.add(pos, match)
    index.add(6, "a", front=True)
    assert index.oldest() == 0
    assert index.head("a") == 6
    assert index.remove(2) == "b"
    index.restore(2, "b")
    assert drain(index, "a") == [6, 1, 4, 0]
    assert drain(index) == [2, 3, 5]
    assert index.oldest() is None


def test_add_unkeyed_is_adding_each_in_turn(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A batch of unkeyed items added at once lands where adding them one by one would,
    behind keyed and higher-priority items, on a plain and on an ordered queue's index
    (whose take, past a held group, looks at the lane of unkeyed items)."""
    monkeypatch.setattr(index_module, "_WALK", 0)
    for ordered in (False, True):
        one_by_one, at_once = QueueIndex(ordered=ordered), QueueIndex(ordered=ordered)
        for index in (one_by_one, at_once):
            index.priorities[2] = 5
            index.add(1, "k")
            index.add(2, None)
        for pos in (3, 4, 5):
            one_by_one.add(pos, None)
        at_once.add_unkeyed([3, 4, 5])
        assert len(at_once) == len(one_by_one) == 5
        assert at_once.positions() == one_by_one.positions()
        if ordered:
            assert at_once.free_head({"k"}) == one_by_one.free_head({"k"}) == 2
        assert drain(at_once, "k") == drain(one_by_one, "k") == [1]
        assert drain(at_once) == drain(one_by_one)
        assert len(at_once) == 0
