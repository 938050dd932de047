"""Permissions per user and queue (CONFIG.md `permissions`): rights `r`, `w`, `m`.

A user's own entry applies to them; the user `*` is the entry of users not listed
(with no entry at all, a user may do nothing). Within an entry, a queue's own rights
apply to it and the queue `*` to every queue not listed, so `{"*": "rw", Q: "r"}`
gives `rw` everywhere but on `Q`. Which right each endpoint and WebSocket op needs
is declared beside the routes (`server/app.py` `RIGHTS`, `server/websocket.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Literal

from disqueue.config import PermissionTable
from disqueue.errors import InvalidQueueId, PermissionDenied
from disqueue.names import QueueNames

Right = Literal["r", "w", "m"]
READ: Right = "r"
WRITE: Right = "w"
MANAGE: Right = "m"

#: The request key under which `_guarded` leaves the user's `Access`.
ACCESS = "disqueue.access"


@dataclass(frozen=True, slots=True)
class Need:
    """A right a route needs on the queue named by one of its parameters. An absent
    parameter is checked as "any queue" (the `*` rights), unless `optional`."""

    right: Right
    param: str = "name"
    optional: bool = False


class Access:
    """What one user may do, queue by queue."""

    __slots__ = ("_names", "_queues")

    def __init__(self, queues: dict[str, frozenset[str]], names: QueueNames) -> None:
        self._queues = queues
        self._names = names

    def allows(self, right: Right, queue: str | None) -> bool:
        """Whether the user has `right` on `queue` (None: on any queue, i.e. `*`)."""
        rights = None
        # Not a name: only `*` can apply (and the handler answers 400).
        with suppress(InvalidQueueId):
            rights = None if queue is None else self._queues.get(self._names.parse(queue))
        if rights is None:
            rights = self._queues.get("*", frozenset())
        return right in rights

    def require(self, right: Right, queue: str | None) -> None:
        """`PermissionDenied` unless the user has `right` on `queue`."""
        if not self.allows(right, queue):
            raise PermissionDenied()

    def check(self, needs: Iterable[Need], value_of: Callable[[str], str | None]) -> None:
        """`PermissionDenied` unless the user has every right `needs` asks for, each on
        the queue that `value_of` gives for its parameter (an optional one only if given)."""
        for need in needs:
            queue = value_of(need.param)
            if queue is not None or not need.optional:
                self.require(need.right, queue)

    def visible(self, queues: Iterable[str]) -> list[str]:
        """The queues the user may read."""
        return [queue for queue in queues if self.allows(READ, queue)]


class Permissions:
    """The `permissions` of one authentication entry."""

    def __init__(self, table: PermissionTable, names: QueueNames) -> None:
        self._access = {user: Access(queues, names) for user, queues in table.items()}
        self._default = self._access.get("*", Access({}, names))

    def of(self, user: str) -> Access:
        """What `user` (case-insensitive) may do."""
        return self._access.get(user.lower(), self._default)
