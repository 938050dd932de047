"""The power-loss disk (tests/powerfs.py) from a test's side: mount, command, cut, remount."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from .helpers import PYTHON, REPO

FUSERMOUNT = "fusermount3"


class PowerDisk:
    """A folder whose unsynced writes vanish when the power is cut.

    `mount` is where servers keep their files; `cut()` loses everything not fsynced
    and leaves the disk unmounted until `power_on()`."""

    def __init__(self, root: Path) -> None:
        self.live = root / "live"
        self.store = root / "store"
        self.mount = root / "mnt"
        self.control = root / "control.sock"
        self.log = root / "powerfs.log"
        self.live.mkdir(parents=True, exist_ok=True)
        self.mount.mkdir(exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    def power_on(self) -> None:
        """Mount LIVE (as the last cut left it) at `mount`."""
        assert shutil.which(FUSERMOUNT), "fuse3 is not installed (make fuse installs it)"
        assert os.path.exists("/dev/fuse"), "/dev/fuse is missing: FUSE cannot run here"
        self.control.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "tests.powerfs", *map(str, (self.live, self.store, self.mount)),
                 str(self.control)],
                cwd=REPO, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + 10
        while not (os.path.ismount(self.mount) and self.control.exists()):
            assert self.proc.poll() is None, f"powerfs exited:\n{self.log.read_text()}"
            assert time.monotonic() < deadline, f"powerfs did not mount:\n{self.log.read_text()}"
            time.sleep(0.02)

    def command(self, line: str) -> str:
        """Send one control command; its answer (which must start with `ok`)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(60)
            sock.connect(str(self.control))
            sock.sendall(line.encode() + b"\n")
            with sock.makefile("r") as stream:
                answer = stream.readline().strip()
        assert answer.startswith("ok"), f"powerfs {line!r}: {answer!r}"
        return answer

    def fault(self, operation: str, error: str) -> None:
        """Make every `operation` ("write" or "fsync") fail with `error` until `clear()`."""
        self.command(f"fault {operation} {error}")

    def stall(self) -> None:
        self.command("stall")

    def lie(self) -> None:
        """From now on fsync answers success and makes nothing durable."""
        self.command("lie")

    def clear(self) -> None:
        self.command("clear")

    def release(self) -> None:
        """Clear whatever is set, if the disk still answers: cleaning up after a failed
        test must not wait on a stalled disk (a process in a FUSE flush cannot die)."""
        with contextlib.suppress(OSError, AssertionError):
            self.clear()

    def stats(self) -> dict[str, int]:
        words = self.command("stats").split()[1:]
        return {key: int(value) for key, value in (word.split("=") for word in words)}

    def cut(self) -> None:
        """The power goes off: what was not fsynced is gone. Whoever still uses the disk
        gets EIO until it is unmounted; kill them first or right after."""
        self.command("cut")

    def power_off(self) -> None:
        """Unmount (lazily: a killed process may still be letting go) and stop powerfs."""
        if self.proc is None:
            return
        self.release()
        subprocess.run([FUSERMOUNT, "-u", "-z", str(self.mount)], check=False)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@contextlib.contextmanager
def power_disk(root: Path) -> Iterator[PowerDisk]:
    """A mounted power-loss disk for the block, unmounted after it."""
    disk = PowerDisk(root)
    disk.power_on()
    try:
        yield disk
    finally:
        disk.power_off()
