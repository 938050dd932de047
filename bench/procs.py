"""Start the processes under test, wait until they answer, and always stop them."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Terminate, then kill if it does not exit within `grace` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode} before answering {url}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"no 200 from {url} within {timeout:.0f} s")


@contextlib.contextmanager
def running(
    cmd: Sequence[str],
    health_url: str,
    timeout: float = 30.0,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `cmd` until the block ends; ready once `health_url` answers 200.

    If the process dies, the error carries the tail of its output.
    """
    with tempfile.TemporaryFile() as log:

        def failure(what: str) -> RuntimeError:
            log.seek(0)
            tail = log.read()[-3000:].decode(errors="replace")
            return RuntimeError(f"{' '.join(cmd)}: {what}\n{tail}")

        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            try:
                _wait_ready(proc, health_url, timeout)
            except RuntimeError as exc:
                raise failure(str(exc)) from None
            try:
                yield proc
            except Exception as exc:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(2)  # a server that just closed its socket may be exiting
                if proc.poll() is not None:
                    raise failure(f"died with status {proc.returncode} ({exc})") from exc
                raise
            if proc.poll() is not None:
                raise failure(f"died during the run with status {proc.returncode}")
        finally:
            stop(proc)


def post_form(url: str, **fields: str) -> tuple[int, bytes]:
    """One form POST; returns (status, body) whatever the status."""
    data = urllib.parse.urlencode(fields).encode()
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def worker_result(
    cmd: Sequence[str], what: str, env: Mapping[str, str] | None = None, timeout: float = 900
) -> dict[str, float]:
    """Run a load worker (a process of its own) to its end: the JSON of the line it
    prints as `RESULT {...}`; if there is none, an error with the tail of its stderr."""
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, float] = json.loads(line[7:])
            return result
    raise RuntimeError(f"{what}: the load failed:\n{done.stderr[-3000:]}")
