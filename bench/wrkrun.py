"""Run wrk with one of the Lua scripts in bench/wrk/ and read its JSON result line."""

from __future__ import annotations

import contextlib
import json
import math
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent / "wrk"


@dataclass(frozen=True)
class Load:
    connections: int = 64
    threads: int = 1
    duration: float = 5.0
    alive: Callable[[], bool] = lambda: True  # is the server under test still running?


def wrk(
    url: str,
    script: str,
    args: list[str],
    load: Load,
    *,
    limit: int = 0,
    max_seconds: int = 0,
) -> dict[str, Any]:
    """Run `wrk -s bench/wrk/SCRIPT URL -- ARGS` and return the script's RESULT object.

    With `limit`, the scripts stop after `limit` answers in all (spread over the
    threads) and wrk is interrupted once every thread has stopped; `max_seconds`
    then bounds the run. wrk is also interrupted as soon as `load.alive()` turns
    false (the server died). The result also carries `rps`, `p50_ms` and `p99_ms`.
    """
    seconds = max_seconds or load.duration
    cmd = ["wrk", f"-t{load.threads}", f"-c{load.connections}", f"-d{seconds:g}s", "--timeout=10s"]
    cmd += ["-s", str(SCRIPTS / script), url, "--", *args]
    if limit:
        cmd.append(str(math.ceil(limit / load.threads)))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    result, stopped, output = None, 0, []
    threading.Thread(target=_watch, args=(proc, load.alive), daemon=True).start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if line.startswith("STOPPED"):
                stopped += 1
                if stopped == load.threads:
                    proc.send_signal(signal.SIGINT)
            elif line.startswith("RESULT "):
                result = json.loads(line.removeprefix("RESULT "))
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if result is None:
        stderr = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"no result from {' '.join(cmd)}:\n{''.join(output)}{stderr}")
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["p50_ms"] = result["p50_us"] / 1000
    result["p99_ms"] = result["p99_us"] / 1000
    return result


def _watch(proc: subprocess.Popen[str], alive: Callable[[], bool]) -> None:
    """Interrupt wrk when the server under test is gone."""
    while proc.poll() is None:
        if not alive():
            proc.send_signal(signal.SIGINT)
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(0.5)
