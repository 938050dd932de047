"""nginx for the tests: installed from Debian's packages when missing (as
scripts/ensure-postgres does for PostgreSQL), run in the foreground on a generated
config made from examples/multinode/nginx.conf, so the README's example is what runs."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ..e2e.helpers import REPO, free_port

EXAMPLE = REPO / "examples" / "multinode"
READY_TIMEOUT = 10.0


def nginx_binary() -> str:
    """The nginx program; installed (apt-get, as root) when it is missing."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.fail("nginx is not installed and only root may install it (apt-get install nginx)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "nginx"]):
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    found = shutil.which("nginx", path="/usr/sbin:/usr/local/sbin:/usr/bin")
    assert found, "apt-get installed nginx but there is no nginx program"
    return found


class Nginx:
    """nginx running the example config, with its ports and files moved into
    `directory`: it listens on `port` and proxies to the given node ports."""

    def __init__(self, directory: Path, node_ports: tuple[int, int]) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        text = (EXAMPLE / "nginx.conf").read_text()
        for example, ours in (
            ("127.0.0.1:3682", f"127.0.0.1:{self.port}"),
            ("127.0.0.1:3683", f"127.0.0.1:{node_ports[0]}"),
            ("127.0.0.1:3684", f"127.0.0.1:{node_ports[1]}"),
            ("/var/log/nginx/", f"{directory}/"),
            ("/run/", f"{directory}/"),
        ):
            assert example in text, f"examples/multinode/nginx.conf lost {example!r}"
            text = text.replace(example, ours)
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "nginx.conf"
        self.config.write_text(text)
        self.proc = subprocess.Popen(
            [nginx_binary(), "-p", str(directory), "-c", str(self.config), "-g", "daemon off;"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def output(self) -> str:
        """nginx's error log (for failure messages)."""
        log = self.directory / "disqueue-error.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
                raise AssertionError(f"nginx exited {self.proc.returncode}: {out}{self.output()}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            try:
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"nginx not ready within {READY_TIMEOUT} s\n{self.output()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop nginx (SIGTERM: fast shutdown) and wait for it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
