"""Fill a queue before a take run, and the small HTTP calls around the runs.

Fills use the batch put of API Part 2 (a JSON body of up to 1000 items) when the
server accepts it, else wrk with put.lua stopping after the wanted count.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from procs import post_form
from wrkrun import Load, wrk

BATCH = 1000
VALUE = "v" * 100


def create_queue(base: str) -> str:
    name = str(uuid.uuid4())
    status, body = post_form(f"{base}/queues", name=name)
    if status != 200:
        raise RuntimeError(f"POST /queues answered {status}: {body[:200]!r}")
    return name


def delete_queue(base: str, name: str) -> None:
    request = urllib.request.Request(f"{base}/queue?name={name}", method="DELETE")
    with urllib.request.urlopen(request, timeout=30):
        pass


def _batch_put(base: str, name: str, items: list[dict[str, Any]]) -> bool:
    data = json.dumps({"name": name, "items": items}).encode()
    request = urllib.request.Request(
        f"{base}/put", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.loads(response.read()).get("payload")
    except OSError:
        return False
    return isinstance(payload, dict) and len(payload.get("ids", [])) == len(items)


def fill(base: str, name: str, count: int, load: Load, keys: int = 0) -> str:
    """Put `count` 100-byte items (key `k<i mod keys>` when `keys`); return the method."""
    if count <= 0:
        return "nothing to fill"

    def batch(start: int) -> list[dict[str, Any]]:
        stop = min(start + BATCH, count)
        if keys:
            return [{"value": VALUE, "key": f"k{i % keys + 1}"} for i in range(start, stop)]
        return [{"value": VALUE} for _ in range(start, stop)]

    if count and _batch_put(base, name, batch(0)):
        with ThreadPoolExecutor(4) as pool:
            starts = range(BATCH, count, BATCH)
            if not all(pool.map(lambda start: _batch_put(base, name, batch(start)), starts)):
                raise RuntimeError(f"a batch put into {name} failed")
        return "batch put"
    filled = wrk(base, "put.lua", [name, str(keys)], load, limit=count, max_seconds=600)
    if filled["non2xx"]:
        raise RuntimeError(f"fill: {filled['non2xx']} puts failed: {filled['first_error']}")
    return "wrk put.lua"
