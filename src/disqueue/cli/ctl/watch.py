"""`watch`: live depths of the queues, polled from `GET /stats` (the dashboard's
source), or from `POST /queue` on a server without it."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import time
from typing import Any

from rich.table import Table

from disqueue.cli.ctl.common import client, emit_json, stdout
from disqueue.client.errors import NotFound, QueueNotFound
from disqueue.client.models import QueueInfo
from disqueue.client.sync import Client

COLUMNS = ("size", "delayed", "in_flight", "consumers", "put", "taken", "acked", "dead_lettered")


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the `watch` command."""
    cmd = commands.add_parser(
        "watch",
        parents=[common],
        help="live depths of the queues",
        description="Show each queue's depths and totals, refreshed every --interval "
        "seconds until interrupted (with --json: one JSON line per refresh).",
    )
    cmd.add_argument("queues", nargs="*", help="the queues to watch (default: all)")
    cmd.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    cmd.add_argument("--count", type=int, help="stop after this many refreshes")
    cmd.set_defaults(run=watch)


def snapshot(api: Client, names: list[str]) -> list[QueueInfo]:
    """Each queue named (or all): from `GET /stats` in one request, or, from a server
    without it (the original), the information of each queue, skipping those deleted
    meanwhile."""
    try:
        every = api.stats()
    except NotFound:
        pass
    else:
        if not names:
            return every
        by_name = {info.name: info for info in every}
        missing = [name for name in names if name not in by_name]
        if missing:
            raise QueueNotFound("queue does not exist", 404)
        return [by_name[name] for name in names]
    infos = []
    for name in names or api.queues():
        try:
            infos.append(api.info(name))
        except QueueNotFound:
            if names:
                raise
    return infos


def table(infos: list[QueueInfo], rates: dict[str, float]) -> Table:
    """The view of one refresh."""
    view = Table(title=f"disqueue  {time.strftime('%H:%M:%S')}")
    view.add_column("queue")
    for column in COLUMNS:
        view.add_column(column.replace("_", " "), justify="right")
    view.add_column("taken/s", justify="right")
    for info in infos:
        cells = [str(getattr(info, column) if getattr(info, column) is not None else "-")
                 for column in COLUMNS]  # fmt: skip
        view.add_row(info.name, *cells, f"{rates.get(info.name, 0.0):.1f}")
    return view


def watch(args: argparse.Namespace) -> int:
    """Poll and show until interrupted, or --count refreshes."""
    from rich.live import Live

    refreshes = itertools.count(1) if args.count is None else range(1, args.count + 1)
    previous: dict[str, tuple[float, int]] = {}
    view = contextlib.nullcontext() if args.json else Live(console=stdout(), auto_refresh=False)
    with client(args) as api, view as live:
        for refresh in refreshes:
            infos = snapshot(api, args.queues)
            now = time.monotonic()
            rates = {}
            for info in infos:
                before = previous.get(info.name)
                if before is not None and info.taken is not None and now > before[0]:
                    rates[info.name] = (info.taken - before[1]) / (now - before[0])
                previous[info.name] = (now, info.taken or 0)
            if args.json:
                emit_json({"time": time.time(), "queues": [info.to_dict() for info in infos]})
            elif live is not None:
                live.update(table(infos, rates), refresh=True)
            if args.count is None or refresh < args.count:
                time.sleep(args.interval)
    return 0
