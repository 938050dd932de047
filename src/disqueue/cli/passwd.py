"""`disqueuectl passwd FILE USER`: set a user's password in a password file.

The password is read twice from the terminal (without echo), or once from standard
input when that is not a terminal (`echo "$PW" | disqueuectl passwd FILE USER`). The
user's line (matched case-insensitively, as the server does) is replaced, or added at
the end, with an argon2id hash; every other line (comments, other users) is kept as
it is. The file is written to a temporary file beside it and renamed over it, so the
server, which reads it again when it changes, never sees half of it. A new file is
readable by its owner only.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from disqueue.auth.schemes import argon2id_hash

DESCRIPTION = "Set USER's password in the password FILE (an argon2id hash)."


class PasswdError(Exception):
    """What went wrong, for one line on stderr."""


def read_password() -> str:
    """Twice from the terminal, or one line from a non-terminal stdin."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
    else:
        password = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise PasswdError("the passwords do not match; nothing changed")
    if not password:
        raise PasswdError("the password is empty; nothing changed")
    return password


def check_user(user: str) -> None:
    """`PasswdError` unless `user` can be a line's user name."""
    if not user or user != user.strip() or user.startswith("#"):
        raise PasswdError(f"invalid user name {user!r}")
    if any(char in user for char in ":\r\n"):
        raise PasswdError(f"invalid user name {user!r}: no ':' or line breaks")


def with_user(text: str, user: str, hashed: str) -> tuple[str, bool]:
    """`text` with the user's line replaced (or added); whether it was replaced."""
    lines = text.splitlines()
    entry = f"{user}:{hashed}"
    replaced = False
    for index, line in enumerate(lines):
        name, sep, _ = line.strip().partition(":")
        if sep and not name.startswith("#") and name.lower() == user.lower():
            lines[index] = entry
            replaced = True
    if not replaced:
        lines.append(entry)
    return "\n".join(lines) + "\n", replaced


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename, keeping the old file's mode."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    handle, staged = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(staged, mode)
        os.replace(staged, path)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise


def _arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("file", type=Path, help="the password file (created if missing)")
    parser.add_argument("user", help="the user name (compared case-insensitively)")
    parser.set_defaults(run=run)
    return parser


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `disqueuectl passwd` (it talks to no server: no connection options)."""
    _arguments(commands.add_parser("passwd", help=DESCRIPTION, description=DESCRIPTION))


def run(args: argparse.Namespace) -> int:
    """Set the password; the exit status (0 done, 1 refused)."""
    path: Path = args.file
    try:
        check_user(args.user)
        try:
            text = path.read_text(encoding="utf-8") if path.exists() else ""
        except (OSError, UnicodeDecodeError) as exc:
            raise PasswdError(f"{path}: cannot read: {exc}") from exc
        new_text, replaced = with_user(text, args.user, argon2id_hash(read_password()))
        try:
            write_atomically(path, new_text)
        except OSError as exc:
            raise PasswdError(f"{path}: cannot write: {exc.strerror}") from exc
    except PasswdError as exc:
        print(f"disqueuectl passwd: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print("\ndisqueuectl passwd: interrupted; nothing changed", file=sys.stderr)
        return 1
    print(f"{'changed' if replaced else 'added'} {args.user} in {path}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m disqueue.cli.passwd FILE USER`: the same as `disqueuectl passwd`."""
    parser = _arguments(argparse.ArgumentParser(prog="disqueuectl passwd", description=DESCRIPTION))
    status: int = run(parser.parse_args(argv))
    return status


if __name__ == "__main__":
    sys.exit(main())
