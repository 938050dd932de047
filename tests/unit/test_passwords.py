"""Password files: format, case rules, malformed lines, and reload on change."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from disqueue.auth import passwords
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
