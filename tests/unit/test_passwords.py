"""Password files: schemes, case rules, malformed lines, the cache, and reload on change."""

from __future__ import annotations

import logging
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from disqueue.auth import passwords, schemes
from disqueue.auth.passwords import PasswordFile


def test_plain_scheme_and_username_case(tmp_path: Path) -> None:
    """Usernames compare case-insensitively, passwords case-sensitively."""
    path = tmp_path / "passwords"
    path.write_text("# users\n\nTest:$plain$Secret\n")
    users = PasswordFile(path)
    assert users.check("test", "Secret")
    assert users.check("TEST", "Secret")
    assert not users.check("test", "secret")
    assert not users.check("nobody", "Secret")


def test_malformed_lines_are_reported_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bad line is logged with file and line number; the other lines still work."""
    path = tmp_path / "passwords"
    path.write_text("good:$plain$a\nno-colon\nodd:$rot13$x\nalso:$plain$b\n")
    with caplog.at_level(logging.ERROR, "disqueue.auth"):
        users = PasswordFile(path)
    assert users.check("good", "a") and users.check("also", "b")
    assert f"{path}:2: malformed line" in caplog.text
    assert f"{path}:3: malformed line" in caplog.text


def test_reload_when_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed file is read again on the next check after the recheck interval."""
    monkeypatch.setattr(passwords, "RECHECK_SECONDS", 0.0)
    path = tmp_path / "passwords"
    path.write_text("a:$plain$old\n")
    users = PasswordFile(path)
    path.write_text("a:$plain$new-password\n")
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    assert users.check("a", "new-password")
    assert not users.check("a", "old")


def test_file_gone_keeps_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A password file that disappears keeps the last users rather than locking everyone out."""
    monkeypatch.setattr(passwords, "RECHECK_SECONDS", 0.0)
    path = tmp_path / "passwords"
    path.write_text("a:$plain$pw\n")
    users = PasswordFile(path)
    path.unlink()
    assert users.check("a", "pw")


# ------------------------------------------------------------ strong schemes

#: Written by passlib's pbkdf2_sha256 (its documentation's examples): the format is
#: passlib's, and the password of both is "password".
PASSLIB_PBKDF2 = [
    "$pbkdf2-sha256$6400$0ZrzXitFSGltTQnBWOsdAw$Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrnEgY4H9M",
    "$pbkdf2-sha256$8000$XAuBMIYQQogxRg$tRRlz8hYn63B9LYiCd6PRo6FMiunY9ozmMMI3srxeRE",
]


def strong_lines() -> dict[str, str]:
    """user → stored hash, one user per strong scheme, password `pw-<user>`."""
    return {
        "argon": schemes.argon2id_hash("pw-argon"),
        "bcrypt2b": bcrypt.hashpw(b"pw-bcrypt2b", bcrypt.gensalt(rounds=4)).decode(),
        "bcrypt2y": bcrypt.hashpw(b"pw-bcrypt2y", bcrypt.gensalt(rounds=4))
        .decode()
        .replace("$2b$", "$2y$", 1),
        "passlib1": PASSLIB_PBKDF2[0],
        "passlib2": PASSLIB_PBKDF2[1],
    }


@pytest.fixture
def strong_file(tmp_path: Path) -> PasswordFile:
    path = tmp_path / "passwords"
    path.write_text("".join(f"{user}:{stored}\n" for user, stored in strong_lines().items()))
    return PasswordFile(path)


@pytest.mark.parametrize("user", ["argon", "bcrypt2b", "bcrypt2y"])
def test_strong_scheme_right_and_wrong_password(strong_file: PasswordFile, user: str) -> None:
    """argon2id and bcrypt lines accept their password and refuse any other."""
    assert strong_file.check(user, f"pw-{user}")
    assert not strong_file.check(user, f"pw-{user}x")
    assert not strong_file.check(user, "")


@pytest.mark.parametrize("user", ["passlib1", "passlib2"])
def test_pbkdf2_lines_written_by_passlib(strong_file: PasswordFile, user: str) -> None:
    """PBKDF2-SHA256 lines in passlib's format verify (with passlib's own examples)."""
    assert strong_file.check(user, "password")
    assert not strong_file.check(user, "Password")


def test_bcrypt_uses_the_first_72_bytes(tmp_path: Path) -> None:
    """A bcrypt hash of a long password accepts it (bcrypt reads its first 72 bytes)."""
    long = "x" * 100
    stored = bcrypt.hashpw(long.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    path = tmp_path / "passwords"
    path.write_text(f"long:{stored}\n")
    users = PasswordFile(path)
    assert users.check("long", long)
    assert not users.check("long", "y" * 100)


@pytest.mark.parametrize(
    "stored",
    [
        "$argon2id$not-a-hash",
        "$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",  # not argon2id
        "$2b$12$tooshort",
        "$2b$99$" + "a" * 53,  # cost out of range
        "$pbkdf2-sha256$0$c2FsdA$" + "a" * 43,  # no iterations
        "$pbkdf2-sha256$1000$c2FsdA$short",  # digest too short
        "$pbkdf2-sha256$1000$sa+lt$" + "a" * 43,  # not adapted base64
        "$md5$whatever",
        "plain-text-password",
    ],
)
def test_malformed_hash_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, stored: str
) -> None:
    """A line whose hash is not well formed is reported with file and line, and skipped."""
    path = tmp_path / "passwords"
    path.write_text(f"# header\nbad:{stored}\nok:$plain$pw\n")
    with caplog.at_level(logging.ERROR, "disqueue.auth"):
        users = PasswordFile(path)
    assert f"{path}:2: malformed line" in caplog.text
    assert users.check("ok", "pw")
    assert not users.check("bad", stored)


def test_plain_lines_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Loading `$plain$` lines logs a warning naming the file and their lines."""
    path = tmp_path / "passwords"
    path.write_text(f"a:$plain$x\nb:{PASSLIB_PBKDF2[0]}\nc:$plain$y\n")
    with caplog.at_level(logging.WARNING, "disqueue.auth"):
        PasswordFile(path)
    assert f"{path}: line 1, 3: $plain$ passwords" in caplog.text


def test_no_warning_without_plain_lines(
    strong_file: PasswordFile, caplog: pytest.LogCaptureFixture
) -> None:
    """A file of strong hashes only loads without the `$plain$` warning."""
    with caplog.at_level(logging.WARNING, "disqueue.auth"):
        strong_file.reload()
    assert "$plain$" not in caplog.text


def _finishes_at_once(coro: Coroutine[Any, Any, bool]) -> bool | None:
    """The result of `coro` if it finishes without waiting (no worker thread), else None."""
    try:
        coro.send(None)
    except StopIteration as done:
        return bool(done.value)
    coro.close()
    return None


async def test_strong_verification_runs_off_the_loop_and_is_cached(
    strong_file: PasswordFile,
) -> None:
    """The first verification of a strong hash waits for a worker thread; a repeat of the
    same success is answered at once from the cache; a wrong password never is."""
    assert _finishes_at_once(strong_file.verify("argon", "pw-argon")) is None
    assert await strong_file.verify("argon", "pw-argon")
    assert _finishes_at_once(strong_file.verify("ARGON", "pw-argon")) is True
    assert _finishes_at_once(strong_file.verify("argon", "wrong")) is None
    assert not await strong_file.verify("argon", "wrong")
    assert not await strong_file.verify("nobody", "pw-argon")


async def test_cache_forgets_a_changed_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached success does not outlive a change of the user's line."""
    monkeypatch.setattr(passwords, "RECHECK_SECONDS", 0.0)
    path = tmp_path / "passwords"
    path.write_text(f"u:{schemes.argon2id_hash('old')}\n")
    users = PasswordFile(path)
    assert await users.verify("u", "old")
    path.write_text(f"u:{schemes.argon2id_hash('new')}\n")
    os.utime(path, ns=(1, 1))
    assert not await users.verify("u", "old")
    assert await users.verify("u", "new")


async def test_cache_is_bounded(strong_file: PasswordFile, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past CACHE_SIZE remembered successes, the oldest are forgotten."""
    monkeypatch.setattr(passwords, "CACHE_SIZE", 1)
    assert await strong_file.verify("argon", "pw-argon")
    assert await strong_file.verify("passlib1", "password")
    assert _finishes_at_once(strong_file.verify("passlib1", "password")) is True
    assert _finishes_at_once(strong_file.verify("argon", "pw-argon")) is None
