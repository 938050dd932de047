"""Password files: one `username:$scheme$...` line per user (schemes in `schemes.py`).

The file is read again when it changes on disk (looked at, at most, once a
second), so users can be added or removed without a restart. A malformed line
is logged with the file and line number and skipped; the rest still loads.
`$plain$` lines are loaded with a warning.

Strong hashes cost tens of milliseconds each: `verify` runs them in a worker
thread, off the event loop, and remembers a success for `CACHE_SECONDS`, keyed by
the user, a keyed digest of the password and the stored hash, so a busy client
does not pay a hash per request and a changed line takes effect at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import time
from pathlib import Path

from disqueue.auth.schemes import ARGON2ID, PLAIN, decoy, scheme_of

log = logging.getLogger("disqueue.auth")

#: How often, at most, the file's metadata is looked at for a change.
RECHECK_SECONDS = 1.0
#: How long a successful verification is remembered.
CACHE_SECONDS = 30.0
#: At most this many remembered verifications (the oldest are forgotten first).
CACHE_SIZE = 10_000


def parse_lines(text: str, source: str) -> dict[str, str]:
    """Users (lower-cased) to their stored hash; bad lines are logged and skipped, and
    `$plain$` lines are loaded with a warning."""
    users: dict[str, str] = {}
    plain: list[int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        scheme = scheme_of(hashed) if sep and user else None
        if scheme is None:
            log.error(
                "%s:%d: malformed line (want user:$scheme$hash with scheme argon2id, 2b, "
                "pbkdf2-sha256 or plain), skipped",
                source,
                number,
            )
            continue
        if scheme is PLAIN:
            plain.append(number)
        users[user.lower()] = hashed
    if plain:
        log.warning(
            "%s: line %s: $plain$ password%s, readable by anyone who can read the file; "
            "hash them with `disqueuectl passwd`",
            source,
            ", ".join(map(str, plain)),
            "s" if len(plain) > 1 else "",
        )
    return users


class PasswordFile:
    """The users of one password file, kept up to date with the file on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._users: dict[str, str] = {}
        self._strong = False
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        # (user, keyed digest of the password, stored hash) → when it stops counting
        self._verified: dict[tuple[str, bytes, str], float] = {}
        self._key = secrets.token_bytes(32)  # the cache holds no plain password digest
        self.reload()

    def reload(self) -> None:
        """Read the file now (raises OSError if it cannot be read)."""
        st = os.stat(self.path)
        text = self.path.read_text(encoding="utf-8", errors="replace")
        self._users = parse_lines(text, str(self.path))
        # With strong hashes in the file, an unknown user is verified against a decoy
        # strong hash, so that it costs as much as a wrong password.
        self._strong = any(scheme_of(stored) is not PLAIN for stored in self._users.values())
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
        """Whether `password` is right for `user` (usernames are case-insensitive),
        verified here and now, without the cache."""
        self._refresh()
        stored = self._users.get(user.lower())
        if stored is None:
            # Verify anyway, so an unknown user costs as much as a wrong password.
            if self._strong:
                ARGON2ID.verify(decoy(), password)
            else:
                PLAIN.verify("$plain$", password)
            return False
        scheme = scheme_of(stored)
        return scheme is not None and scheme.verify(stored, password)

    async def verify(self, user: str, password: str) -> bool:
        """`check`, with slow hashes run in a worker thread and successes remembered."""
        self._refresh()
        name = user.lower()
        stored = self._users.get(name)
        scheme = scheme_of(stored) if stored is not None else None
        if not (scheme.slow if scheme is not None else self._strong):
            return self.check(user, password)
        key = (name, hmac.digest(self._key, password.encode(), hashlib.sha256), stored or "")
        now = time.monotonic()
        until = self._verified.get(key)
        if until is not None and now < until:
            return True
        if not await asyncio.to_thread(self.check, user, password):
            return False
        self._remember(key, now + CACHE_SECONDS)
        return True

    def _remember(self, key: tuple[str, bytes, str], until: float) -> None:
        cache = self._verified
        cache.pop(key, None)
        if len(cache) >= CACHE_SIZE:
            now = time.monotonic()
            for old in [k for k, t in cache.items() if t <= now] or [next(iter(cache))]:
                del cache[old]
        cache[key] = until
