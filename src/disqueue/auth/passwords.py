"""Password files: one `username:$scheme$...` line per user.

The file is read again when it changes on disk (looked at, at most, once a
second), so users can be added or removed without a restart. A malformed line
is logged with the file and line number and skipped; the rest still loads.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("disqueue.auth")

#: How often, at most, the file's metadata is looked at for a change.
RECHECK_SECONDS = 1.0


def _verify_plain(stored: str, password: str) -> bool:
    return hmac.compare_digest(stored.encode(), password.encode())


#: Hash schemes by their `$scheme$` prefix: each checks a password against the rest.
SCHEMES: dict[str, Callable[[str, str], bool]] = {"plain": _verify_plain}


def _split_hash(hashed: str) -> tuple[str, str] | None:
    """`$scheme$rest` → (scheme, rest), or None when the format is not modular crypt."""
    if not hashed.startswith("$"):
        return None
    scheme, sep, rest = hashed[1:].partition("$")
    return (scheme, rest) if sep and scheme in SCHEMES else None


def parse_lines(text: str, source: str) -> dict[str, str]:
    """Users (lower-cased) to their stored hash; bad lines are logged and skipped."""
    users: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user or _split_hash(hashed) is None:
            log.error("%s:%d: malformed line (want user:$scheme$hash), skipped", source, number)
            continue
        users[user.lower()] = hashed
    return users


class PasswordFile:
    """The users of one password file, kept up to date with the file on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._users: dict[str, str] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self.reload()

    def reload(self) -> None:
        """Read the file now (raises OSError if it cannot be read)."""
        st = os.stat(self.path)
        text = self.path.read_text(encoding="utf-8", errors="replace")
        self._users = parse_lines(text, str(self.path))
        self._stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        self._checked = time.monotonic()

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < RECHECK_SECONDS:
            return
        self._checked = now
        try:
            st = os.stat(self.path)
            if (st.st_mtime_ns, st.st_size, st.st_ino) != self._stamp:
                self.reload()
                log.info("password file %s reloaded (%d users)", self.path, len(self._users))
        except OSError as exc:
            # Keep the users we have: a file being replaced must not lock everyone out.
            log.error("password file %s cannot be read: %s", self.path, exc.strerror)

    def check(self, user: str, password: str) -> bool:
        """Whether `password` is right for `user` (usernames are case-insensitive)."""
        self._refresh()
        hashed = self._users.get(user.lower())
        if hashed is None:
            # Compare anyway, so an unknown user costs as much as a wrong password.
            _verify_plain("$plain$", password)
            return False
        parsed = _split_hash(hashed)
        if parsed is None:
            return False
        scheme, rest = parsed
        return SCHEMES[scheme](rest, password)
