"""The server's CPU time per item (µs) for put, take and lease+ack over HTTP and
WebSocket, on memory and SQLite: a figure that a busy machine disturbs far less than
requests per second. Run it in two checkouts, alternately, to compare them:

    (cd ../before && .venv/bin/python ../main/bench/cpu_per_item.py)
    .venv/bin/python bench/cpu_per_item.py

It uses the bench modules of the checkout it runs in (so each side's own server).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd() / "bench"))

import ws_load
from delivery import ws_url
from fill import create_queue, delete_queue, fill
from run import disqueue_server
from wrkrun import Load, wrk

TICK = os.sysconf("SC_CLK_TCK")
LOAD = Load(connections=64, threads=1, duration=4.0)


def cpu(pid: int) -> float:
    """User and system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rows(base: str, pid: int, label: str) -> dict[str, float]:
    """CPU µs per item of each row, against one server."""
    out, seconds = {}, LOAD.duration
    queue = create_queue(base)
    for name, script in (("put", "put.lua"), ("take", "take.lua")):
        if name == "take":
            fill(base, queue, 250_000, LOAD)
        before = cpu(pid)
        result = wrk(base, script, [queue], LOAD)
        out[f"{name} ({label})"] = (cpu(pid) - before) / (result["rps"] * seconds) * 1e6
    delete_queue(base, queue)
    queue = create_queue(base)
    fill(base, queue, 300_000, LOAD)
    before = cpu(pid)
    streamed = ws_load.run(
        ws_url(base), queue, connections=16, processes=1, duration=seconds, items=300_000,
        count=1000, lease=30.0,
    )  # fmt: skip
    out[f"ws lease+ack ({label})"] = (cpu(pid) - before) / streamed["requests"] * 1e6
    delete_queue(base, queue)
    queue = create_queue(base)
    fill(base, queue, 100_000, LOAD)
    before = cpu(pid)
    result = wrk(base, "lease_ack.lua", [queue], LOAD)  # a take and an ack per item
    out[f"http lease+ack ({label})"] = (cpu(pid) - before) / (result["rps"] / 2 * seconds) * 1e6
    delete_queue(base, queue)
    return out


def main() -> None:
    out: dict[str, float] = {}
    for storage, label in (
        ({"type": "memory"}, "memory"),
        ({"type": "sqlite", "path": "data/d.db"}, "sqlite"),
    ):
        with disqueue_server(storage) as (base, server):
            out |= rows(base, server.pid, label)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
