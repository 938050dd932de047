"""Password hash schemes of the password file, each in modular crypt format.

- `$plain$<password>`: the password itself (for tests only);
- `$argon2id$v=19$m=...,t=...,p=...$<salt>$<hash>`: argon2id (argon2-cffi);
- `$2b$<cost>$<53 characters>` (also `$2a$`, `$2y$`): bcrypt (the bcrypt package);
- `$pbkdf2-sha256$<iterations>$<salt>$<hash>`: PBKDF2-HMAC-SHA256 as passlib writes
  it, salt and hash in "adapted base64" (`.` for `+`, no padding).

Each scheme checks a stored hash's format (at load time, so a malformed line is
reported with its line number) and verifies a password against it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import argon2
import bcrypt


@dataclass(frozen=True, slots=True)
class Scheme:
    """One hash scheme: its name, a format check, a verifier, and whether verifying
    costs enough to be run off the event loop."""

    name: str
    well_formed: Callable[[str], bool]
    verify: Callable[[str, str], bool]
    slow: bool = True


# -- plain --------------------------------------------------------------------


def _plain_verify(stored: str, password: str) -> bool:
    return hmac.compare_digest(stored.removeprefix("$plain$").encode(), password.encode())


# -- argon2id -----------------------------------------------------------------

_HASHER = argon2.PasswordHasher()


def _argon2_well_formed(stored: str) -> bool:
    try:
        return argon2.extract_parameters(stored).type is argon2.Type.ID
    except argon2.exceptions.InvalidHashError:
        return False


def _argon2_verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def argon2id_hash(password: str) -> str:
    """A new argon2id hash of `password` (argon2-cffi's recommended parameters)."""
    return _HASHER.hash(password)


# -- bcrypt -------------------------------------------------------------------

_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
#: bcrypt uses the first 72 bytes of a password; longer ones are cut, as every
#: bcrypt implementation that wrote such hashes did.
_BCRYPT_MAX = 72


def _bcrypt_verify(stored: str, password: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode()[:_BCRYPT_MAX], stored.encode("ascii"))
    except ValueError:
        return False


# -- PBKDF2-SHA256 ------------------------------------------------------------


def _ab64(text: str) -> bytes:
    """passlib's adapted base64: `.` instead of `+`, no padding."""
    if not re.fullmatch(r"[./A-Za-z0-9]*", text):
        raise ValueError("not adapted base64")
    return base64.b64decode(text.replace(".", "+") + "=" * (-len(text) % 4), validate=True)


def _pbkdf2_parts(stored: str) -> tuple[int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != "pbkdf2-sha256":
        return None
    rounds, salt, digest = parts[2:]
    if not re.fullmatch(r"[1-9][0-9]{0,9}", rounds):
        return None
    try:
        return int(rounds), _ab64(salt), _ab64(digest)
    except (ValueError, binascii.Error):
        return None


def _pbkdf2_well_formed(stored: str) -> bool:
    parts = _pbkdf2_parts(stored)
    return parts is not None and len(parts[2]) >= 16


def _pbkdf2_verify(stored: str, password: str) -> bool:
    parts = _pbkdf2_parts(stored)
    if parts is None:
        return False
    rounds, salt, expected = parts
    actual = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds, len(expected))
    return hmac.compare_digest(actual, expected)


# -- lookup -------------------------------------------------------------------

PLAIN = Scheme("plain", lambda stored: True, _plain_verify, slow=False)
ARGON2ID = Scheme("argon2id", _argon2_well_formed, _argon2_verify)
BCRYPT = Scheme("bcrypt", lambda stored: _BCRYPT.fullmatch(stored) is not None, _bcrypt_verify)
PBKDF2_SHA256 = Scheme("pbkdf2-sha256", _pbkdf2_well_formed, _pbkdf2_verify)

#: The `$prefix$` of a stored hash → its scheme.
PREFIXES: dict[str, Scheme] = {
    "plain": PLAIN,
    "argon2id": ARGON2ID,
    "2a": BCRYPT,
    "2b": BCRYPT,
    "2y": BCRYPT,
    "pbkdf2-sha256": PBKDF2_SHA256,
}


def scheme_of(stored: str) -> Scheme | None:
    """The scheme of a well-formed stored hash, or None."""
    if not stored.startswith("$"):
        return None
    prefix, sep, _ = stored[1:].partition("$")
    scheme = PREFIXES.get(prefix) if sep else None
    return scheme if scheme is not None and scheme.well_formed(stored) else None


@cache
def decoy() -> str:
    """An argon2id hash to verify against for an unknown user, so that an unknown
    user costs as much as a wrong password (made once, on first use)."""
    return argon2id_hash("decoy password of no user")
