"""Rows for reliable delivery (API.md Part 2): batch put, streaming, lease+ack.

Each row counts items per second and is divided by the single-item HTTP row of the
same storage measured earlier in the run (put for batch put, take for the others):
the issue asks for at least 5x.
"""

from __future__ import annotations

from dataclasses import replace

import ws_load
from fill import create_queue, delete_queue, fill
from table import Row
from wrkrun import Load, wrk

BATCH = 1000
STREAM_COUNT = 1000


def delivery_rows(
    base: str, load: Load, rows: list[Row], label: str, put_row: str, take_row: str, processes: int
) -> None:
    """Append this storage's batch put, WebSocket streaming and lease+ack rows."""
    queue = create_queue(base)
    wrk(base, "put_batch.lua", [queue], replace(load, duration=1.0))
    batch = wrk(base, "put_batch.lua", [queue], load)
    row = Row.from_wrk(f"batch put x{BATCH} ({label}, items/s)", batch, put_row)
    row.requests *= BATCH
    rows.append(row)
    delete_queue(base, queue)

    for name, lease in (("ws streaming", 0.0), ("ws lease+ack", 30.0)):
        # Enough items for twice what the batch put managed, so the queue cannot run dry.
        items = int(2 * batch["rps"] * BATCH * load.duration)
        queue = create_queue(base)
        fill(base, queue, items, load)
        result = ws_load.run(
            ws_url(base), queue, connections=min(load.connections, 16), processes=processes,
            duration=load.duration, items=items, count=STREAM_COUNT, lease=lease,
        )  # fmt: skip
        rows.append(Row.from_ws(f"{name}, count={STREAM_COUNT} ({label}, items/s)", result,
                                take_row))  # fmt: skip
        delete_queue(base, queue)

    queue = create_queue(base)
    fill(base, queue, int(20_000 * load.duration), load)
    round_trip = wrk(base, "lease_ack.lua", [queue], load)
    row = Row.from_wrk(f"http lease+ack ({label}, items/s)", round_trip, take_row)
    row.requests //= 2  # a take and an ack per item
    rows.append(row)
    delete_queue(base, queue)


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://", 1) + "/take/ws"
