"""Slowing down password guessing: failed logins counted per remote address.

After `limit` failures from one address within `window` seconds, that address's
further attempts are refused with 429 `too many failed logins` (right password or
not, and without verifying it) until its oldest failure leaves the window. Other
addresses are never affected, so a guesser cannot lock out the real user working
from elsewhere.
"""

from __future__ import annotations

import math
import time
from collections import deque

from disqueue.errors import TooManyLogins

#: Past this many addresses tracked, those with no failure inside the window are dropped.
_PRUNE_AT = 10_000


class LoginThrottle:
    """Recent failed logins, per remote address."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def check(self, address: str | None) -> None:
        """Raise `TooManyLogins` if `address` must wait before trying again."""
        if address is None:
            return
        now = time.monotonic()
        failures = self._recent(address, now)
        if failures is not None and len(failures) >= self.limit:
            raise TooManyLogins(max(1, math.ceil(failures[0] + self.window - now)))

    def failed(self, address: str | None) -> None:
        """Count one failed login from `address`."""
        if address is None:
            return
        now = time.monotonic()
        if len(self._failures) >= _PRUNE_AT:
            for known in list(self._failures):
                self._recent(known, now)
        self._failures.setdefault(address, deque(maxlen=self.limit)).append(now)
