"""The in-memory order of one queue: FIFO, by key, with O(1) head and removal.

Backends keep their items wherever they like (a dict, a database) and use this
index to decide, without touching disk and without scanning, which item a take
or peek gets. Items are named by a position number (`pos`) unique in the process.

Every item is in the arrival-order deque and, if it has a key, in that key's
deque. Removing an item only forgets it in `alive`; the deques drop dead entries
when they reach the head, and are compacted when more than half of them is dead,
so a queue consumed only by keyed takes cannot grow its unkeyed deque forever.
"""

from __future__ import annotations

from collections import deque

#: Below this many dead entries a deque is never compacted (compaction is O(n)).
_COMPACT_MIN = 1024


class _Lane:
    """One deque of positions, and how many of them are dead."""

    __slots__ = ("dead", "key", "order")

    def __init__(self, key: str | None) -> None:
        self.key = key  # the one string object every item with this key points to
        self.order: deque[int] = deque()
        self.dead = 0


class QueueIndex:
    """The live items of one queue, by position, in order."""

    __slots__ = ("_alive", "_all", "_keys")

    def __init__(self) -> None:
        self._alive: dict[int, str | None] = {}  # pos → lower-cased key (shared strings)
        self._all = _Lane(None)
        self._keys: dict[str, _Lane] = {}

    def __len__(self) -> int:
        return len(self._alive)

    def __contains__(self, pos: int) -> bool:
        return pos in self._alive

    def _enter(self, pos: int, match: str | None) -> list[_Lane]:
        """Mark `pos` alive under `match`; the lanes it belongs in."""
        lanes = [self._all]
        if match is not None:
            lane = self._keys.get(match)
            if lane is None:
                lane = self._keys[match] = _Lane(match)
            match = lane.key
            lanes.append(lane)
        self._alive[pos] = match
        return lanes

    def add(self, pos: int, match: str | None, *, front: bool = False) -> None:
        """Add an item at the back (or, given back, at the front)."""
        for lane in self._enter(pos, match):
            if front:
                lane.order.appendleft(pos)
            else:
                lane.order.append(pos)

    def head(self, match: str | None) -> int | None:
        """The position of the oldest item (with lower-cased key `match`), or None."""
        lane = self._all if match is None else self._keys.get(match)
        if lane is None:
            return None
        order, alive = lane.order, self._alive
        while order:
            pos = order[0]
            if pos in alive:
                return pos
            order.popleft()
            lane.dead -= 1
        if match is not None:
            del self._keys[match]
        return None

    def restore(self, pos: int, match: str | None) -> None:
        """Undo `remove(pos)` (its storage failed): the item gets its old place back,
        or the front if its entry was dropped meanwhile. O(n): for failures only."""
        for lane in self._enter(pos, match):
            if pos in lane.order:
                lane.dead -= 1  # its dead entry is alive again, in its old place
            else:
                lane.order.appendleft(pos)

    def remove(self, pos: int) -> str | None:
        """Forget an item (taken or deleted); returns its lower-cased key."""
        match = self._alive.pop(pos)
        self._bury(self._all)
        if match is not None:
            lane = self._keys[match]
            if lane.dead + 1 == len(lane.order):
                del self._keys[match]  # nothing alive is left under this key
            else:
                self._bury(lane)
        return match

    def _bury(self, lane: _Lane) -> None:
        lane.dead += 1
        if lane.dead > _COMPACT_MIN and lane.dead * 2 > len(lane.order):
            alive = self._alive
            lane.order = deque(pos for pos in lane.order if pos in alive)
            lane.dead = 0

    def positions(self) -> list[int]:
        """Every live position, oldest first."""
        alive = self._alive
        return [pos for pos in self._all.order if pos in alive]
