"""The in-memory order of one queue: by priority, FIFO, by key, with O(1) head and removal.

Backends keep their items wherever they like (a dict, a database) and use this index to
decide, without touching disk and without scanning, which item a take or peek gets.
Items are named by a position number (`pos`) unique in the process.

Every item is in its priority's arrival-order deque and, if it has a key, in that key's
deque of its priority. Removing an item only forgets it in `alive`; the deques drop dead
entries when they reach the head, and are compacted when more than half of them is dead,
so a queue consumed only by keyed takes cannot grow its unkeyed deque forever.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Container

from disqueue.core import contract

#: Below this many dead entries a deque is never compacted (compaction is O(n)).
_COMPACT_MIN = 1024
#: How many entries (held items, dead ones) an ordered queue's take passes in arrival
#: order before it looks at the keys' lanes instead.
_WALK = 32


class _Lane:
    """One deque of positions, and how many of them are dead."""

    __slots__ = ("dead", "key", "order")

    def __init__(self, key: str | None) -> None:
        self.key = key  # the one string object every item with this key points to
        self.order: deque[int] = deque()
        self.dead = 0


class _Level:
    """The items of one priority: in arrival order, by key, and (an ordered queue's) the
    items without a key."""

    __slots__ = ("all", "keys", "live", "unkeyed")

    def __init__(self, unkeyed: bool) -> None:
        self.all = _Lane(None)
        self.keys: dict[str, _Lane] = {}
        self.unkeyed = _Lane(None) if unkeyed else None
        self.live = 0


class QueueIndex:
    """The live items of one queue, by position, in order: the highest priority first
    (one level per priority present, at most ten: a head looks at each at most once),
    oldest first within one. `priorities` (pos → priority, 0 left out) is the queue's
    own map, read when an item enters or leaves: the rules keep it for every item.
    An ordered queue's index (`ordered`) keeps every item in one level, by position,
    whatever its priority (`contract.take_order`), and a lane of its unkeyed items."""

    __slots__ = ("_alive", "_levels", "_order", "_unkeyed", "by_priority", "priorities")

    def __init__(self, priorities: dict[int, int] | None = None, *, ordered: bool = False) -> None:
        self._alive: dict[int, str | None] = {}  # pos → lower-cased key (shared strings)
        self.priorities: dict[int, int] = {} if priorities is None else priorities
        self.by_priority = not ordered  # an ordered queue: one level, by position only
        self._unkeyed = ordered  # an ordered queue's levels keep a lane of unkeyed items
        self._levels: dict[int, _Level] = {0: _Level(ordered)}
        self._order: list[_Level] = [self._levels[0]]  # highest priority first

    def __len__(self) -> int:
        return len(self._alive)

    def __contains__(self, pos: int) -> bool:
        return pos in self._alive

    def _priority(self, pos: int) -> int:
        return self.priorities.get(pos, 0) if self.by_priority else 0

    def _level(self, pos: int) -> _Level:
        priority = self._priority(pos)
        level = self._levels.get(priority)
        if level is None:
            level = self._levels[priority] = _Level(self._unkeyed)
            self._order = [self._levels[p] for p in sorted(self._levels, reverse=True)]
        return level

    def _enter(self, pos: int, match: str | None) -> list[_Lane]:
        """Mark `pos` alive under `match`; the lanes it belongs in."""
        level = self._level(pos)
        level.live += 1
        lanes = [level.all]
        if match is not None:
            lane = level.keys.get(match)
            if lane is None:
                lane = level.keys[match] = _Lane(match)
            match = lane.key
            lanes.append(lane)
        elif level.unkeyed is not None:
            lanes.append(level.unkeyed)
        self._alive[pos] = match
        return lanes

    def add(self, pos: int, match: str | None, *, front: bool = False) -> None:
        """Add an item at the back (or, given back, at the front) of its priority."""
        for lane in self._enter(pos, match):
            if front:
                lane.order.appendleft(pos)
            else:
                lane.order.append(pos)

    def add_unkeyed(self, positions: list[int]) -> None:
        """`add` of items without a key or a priority, in order, at the back."""
        level = self._levels[0]
        level.live += len(positions)
        self._alive.update(dict.fromkeys(positions))
        level.all.order.extend(positions)
        if level.unkeyed is not None:
            level.unkeyed.order.extend(positions)

    def head(self, match: str | None) -> int | None:
        """The position of the oldest item of the highest priority (with lower-cased key
        `match`), or None."""
        for level in self._order:
            if not level.live:
                continue
            lane = level.all if match is None else level.keys.get(match)
            if lane is None:
                continue
            order, alive = lane.order, self._alive
            while order:
                pos = order[0]
                if pos in alive:
                    return pos
                order.popleft()
                lane.dead -= 1
            if match is not None:
                del level.keys[match]
        return None

    def oldest(self) -> int | None:
        """The lowest position of a ready item, whatever its priority (for its age)."""
        heads = [pos for level in self._order if level.live for pos in [self._first(level)]]
        found = [pos for pos in heads if pos is not None]
        return min(found) if found else None

    def _first(self, level: _Level) -> int | None:
        order, alive = level.all.order, self._alive
        while order:
            if order[0] in alive:
                return order[0]
            order.popleft()
            level.all.dead -= 1
        return None

    def free_head(self, held: Container[str]) -> int | None:
        """An ordered queue's next item for a take: the first in take order whose group
        is not `held` (`contract.group_free`). The arrival order is walked past a few
        held items; behind more, the heads of the free keys' lanes and of the unkeyed
        lane are compared instead: O(min(held items ahead, keys of the level))."""
        alive = self._alive
        for level in self._order:
            if not level.live or self._first(level) is None:  # dead heads dropped first
                continue
            # Entries passed count, held items and dead ones behind the head alike.
            for passed, pos in enumerate(level.all.order):
                if pos in alive and contract.group_free(alive[pos], held):
                    return pos
                if passed >= _WALK:
                    break
            else:
                continue  # nothing free at this priority
            found = self._lane_head(level.unkeyed) if level.unkeyed is not None else None
            for key, lane in list(level.keys.items()):
                if contract.group_free(key, held):
                    head = self._lane_head(lane)
                    if head is None:
                        del level.keys[key]
                    elif found is None or head < found:
                        found = head
            if found is not None:
                return found
        return None

    def _lane_head(self, lane: _Lane) -> int | None:
        order, alive = lane.order, self._alive
        while order:
            if order[0] in alive:
                return order[0]
            order.popleft()
            lane.dead -= 1
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
        level = self._levels[self._priority(pos)]
        level.live -= 1
        self._bury(level.all)
        if match is not None:
            lane = level.keys[match]
            if lane.dead + 1 == len(lane.order):
                del level.keys[match]  # nothing alive is left under this key
            else:
                self._bury(lane)
        elif level.unkeyed is not None:
            self._bury(level.unkeyed)
        return match

    def _bury(self, lane: _Lane) -> None:
        lane.dead += 1
        if lane.dead > _COMPACT_MIN and lane.dead * 2 > len(lane.order):
            alive = self._alive
            lane.order = deque(pos for pos in lane.order if pos in alive)
            lane.dead = 0

    def positions(self) -> list[int]:
        """Every live position, in take order."""
        alive = self._alive
        return [pos for level in self._order for pos in level.all.order if pos in alive]
