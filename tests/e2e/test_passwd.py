"""`disqueuectl passwd FILE USER` (the installed command; `python -m disqueue.cli.passwd`
is the same tool): argon2id lines the server accepts, from a pipe or a terminal, other
lines kept."""

from __future__ import annotations

import os
import pty
import select
import stat
import subprocess
from pathlib import Path

import pytest

from disqueue.auth.passwords import PasswordFile

from .conftest import StartServer
from .helpers import PYTHON, Api, wait_until

#: The installed `disqueuectl`, beside the interpreter running the tests.
DISQUEUECTL = str(Path(PYTHON).parent / "disqueuectl")

AUTH = {
    "servers": [{"authentication": "default"}],
    "authentication": {"default": {"type": "plaintext", "file": "passwords"}},
}


def passwd(file: Path, user: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DISQUEUECTL, "passwd", str(file), user],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def on_terminal(file: Path, user: str, answers: list[str]) -> tuple[int, str]:
    """Run the tool on a pseudo-terminal, typing each answer at its prompt."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the tool
        os.execv(DISQUEUECTL, [DISQUEUECTL, "passwd", str(file), user])
    output = b""
    pending = list(answers)
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 30)
            assert ready, f"no output from the tool: {output!r}"
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the terminal is gone: the tool exited
                break
            if not chunk:
                break
            output += chunk
            if pending and chunk.endswith(b": "):  # a prompt
                os.write(fd, pending.pop(0).encode() + b"\n")
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_new_file_from_stdin(tmp_path: Path) -> None:
    """A missing file is created, owner-only, with one argon2id line that verifies."""
    file = tmp_path / "passwords"
    result = passwd(file, "Alice", "s3cret pw\n")
    assert result.returncode == 0, result.stderr
    assert "added Alice" in result.stderr
    (line,) = file.read_text().splitlines()
    assert line.startswith("Alice:$argon2id$")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    users = PasswordFile(file)
    assert users.check("alice", "s3cret pw")
    assert not users.check("alice", "s3cret pw\n")


def test_replaces_the_user_and_keeps_the_rest(tmp_path: Path) -> None:
    """The user's line (any case) is replaced; comments and other users are kept."""
    file = tmp_path / "passwords"
    file.write_text("# staff\nbob:$plain$old\n\ncarol:$plain$c\n")
    file.chmod(0o640)
    result = passwd(file, "BOB", "new-pw")
    assert result.returncode == 0, result.stderr
    assert "changed BOB" in result.stderr
    lines = file.read_text().splitlines()
    assert lines[0] == "# staff" and lines[2] == "" and lines[3] == "carol:$plain$c"
    assert lines[1].startswith("BOB:$argon2id$")
    assert stat.S_IMODE(file.stat().st_mode) == 0o640
    users = PasswordFile(file)
    assert users.check("bob", "new-pw") and not users.check("bob", "old")
    assert users.check("carol", "c")


def test_twice_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal the password is asked twice; the same twice sets it."""
    file = tmp_path / "passwords"
    status, output = on_terminal(file, "dave", ["typed-pw", "typed-pw"])
    assert status == 0, output
    assert "New password:" in output and "Repeat it:" in output
    assert "typed-pw" not in output  # not echoed
    assert PasswordFile(file).check("dave", "typed-pw")


def test_mismatch_on_a_terminal_changes_nothing(tmp_path: Path) -> None:
    """Two different answers on a terminal: exit 1, the file untouched."""
    file = tmp_path / "passwords"
    file.write_text("dave:$plain$old\n")
    status, output = on_terminal(file, "dave", ["one", "two"])
    assert status == 1, output
    assert "do not match" in output
    assert file.read_text() == "dave:$plain$old\n"


@pytest.mark.parametrize(
    ("user", "stdin", "message"),
    [
        ("", "pw", "invalid user name"),
        ("a:b", "pw", "invalid user name"),
        ("#x", "pw", "invalid user name"),
        ("ok", "\n", "the password is empty"),
    ],
)
def test_refusals(tmp_path: Path, user: str, stdin: str, message: str) -> None:
    """A bad user name or an empty password: exit 1, a message, no file written."""
    file = tmp_path / "passwords"
    result = passwd(file, user, stdin)
    assert result.returncode == 1
    assert message in result.stderr
    assert not file.exists()


def test_server_accepts_the_written_line(start_server: StartServer, tmp_path: Path) -> None:
    """A server reading the file lets the user in with that password, and no other."""
    # Polling before the reload fails logins: no slowdown for that here.
    config = {**AUTH, "limits": {"max_failed_logins": 1000}}
    server = start_server(config, files={"passwords": "# users\n"})
    result = passwd(server.directory / "passwords", "erin", "erin-pw")
    assert result.returncode == 0, result.stderr
    with Api(server.url, auth=("erin", "erin-pw")) as client:
        # The server reads the file again within about a second.
        wait_until(lambda: client.call("GET", "/queues").status == 200, 10, interval=0.1)
    with Api(server.url, auth=("erin", "wrong")) as client:
        client.call("GET", "/queues").error(403, "invalid credentials")


def test_module_form_is_the_same_tool(tmp_path: Path) -> None:
    """`python -m disqueue.cli.passwd` writes the same kind of line."""
    file = tmp_path / "passwords"
    done = subprocess.run(
        [PYTHON, "-m", "disqueue.cli.passwd", str(file), "eve"], input="pw\n",
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert file.read_text().startswith("eve:$argon2id$")
