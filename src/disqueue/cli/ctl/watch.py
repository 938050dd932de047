"""`watch`: live depths of the queues, polled from `GET /stats` (the dashboard's
source), or from `POST /queue` on a server without it."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import time
from dataclasses import replace
from typing import Any

from rich.console import Console
from rich.measure import Measurement
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


#: What `GET /stats` leaves out, taken from each queue's `POST /queue` instead.
SETTINGS = ("created", "lease", "max_attempts", "dead_letter", "max_items")
#: Seconds a queue's settings are shown before they are asked for again.
SETTINGS_AGE = 10.0
#: The columns a narrow terminal keeps, most wanted first (the others go first).
PRIORITY = ("size", "in_flight", "taken/s", "delayed", "consumers", "put", "taken", "acked",
            "dead_lettered")  # fmt: skip


class Snapshots:
    """Each refresh's information of the queues named (or all): numbers from
    `GET /stats` in one request, settings from each queue's `POST /queue` (kept for
    SETTINGS_AGE seconds); from a server without `/stats` (the original), each queue's
    information, skipping queues deleted meanwhile."""

    def __init__(self, api: Client, names: list[str]) -> None:
        self.api = api
        self.names = names
        self.settings: dict[str, tuple[float, QueueInfo]] = {}

    def take(self) -> list[QueueInfo]:
        try:
            every = self.api.stats()
        except NotFound:
            return self._one_by_one()
        if self.names:
            by_name = {info.name: info for info in every}
            if any(name not in by_name for name in self.names):
                raise QueueNotFound("queue does not exist", 404)
            every = [by_name[name] for name in self.names]
        return [info for info in map(self._with_settings, every) if info is not None]

    def _with_settings(self, info: QueueInfo) -> QueueInfo | None:
        now = time.monotonic()
        known = self.settings.get(info.name)
        if known is None or now - known[0] > SETTINGS_AGE:
            try:
                known = (now, self.api.info(info.name))
            except QueueNotFound:  # deleted since /stats answered
                self.settings.pop(info.name, None)
                return None
            self.settings[info.name] = known
        return replace(info, **{name: getattr(known[1], name) for name in SETTINGS})

    def _one_by_one(self) -> list[QueueInfo]:
        infos = []
        for name in self.names or self.api.queues():
            try:
                infos.append(self.api.info(name))
            except QueueNotFound:
                if self.names:
                    raise
        return infos


def table(infos: list[QueueInfo], rates: dict[str, float], console: Console) -> Table:
    """The view of one refresh, as wide as the console at most: columns that do not fit
    are left out (least wanted first) rather than cutting numbers, and long queue names
    end in an ellipsis."""
    cells = {column: [_cell(getattr(info, column)) for info in infos] for column in COLUMNS}
    cells["taken/s"] = [f"{rates.get(info.name, 0.0):.1f}" for info in infos]
    shown = list(PRIORITY)
    unbounded = console.options.update_width(1_000_000)  # the width it would take
    while True:
        columns = [column for column in (*COLUMNS, "taken/s") if column in shown]
        narrowest = _table(columns, infos, cells, NAME_WIDTH)
        spare = console.width - Measurement.get(console, unbounded, narrowest).maximum
        if spare >= 0 or len(shown) == 1:
            return _table(columns, infos, cells, NAME_WIDTH + max(spare, 0))
        shown.pop()


#: The queue column's narrowest width (names are cut with an ellipsis to fit).
NAME_WIDTH = 12


def _cell(value: int | None) -> str:
    return "-" if value is None else str(value)


def _table(
    columns: list[str], infos: list[QueueInfo], cells: dict[str, list[str]], name_width: int
) -> Table:
    view = Table(title=f"disqueue  {time.strftime('%H:%M:%S')}")
    view.add_column("queue", no_wrap=True, overflow="ellipsis", max_width=name_width)
    for column in columns:
        view.add_column(column.replace("_", " "), justify="right", no_wrap=True)
    for row, info in enumerate(infos):
        view.add_row(info.name, *(cells[column][row] for column in columns))
    return view


def watch(args: argparse.Namespace) -> int:
    """Poll and show until interrupted, or --count refreshes."""
    from rich.live import Live

    refreshes = itertools.count(1) if args.count is None else range(1, args.count + 1)
    previous: dict[str, tuple[float, int]] = {}
    view = contextlib.nullcontext() if args.json else Live(console=stdout(), auto_refresh=False)
    with client(args) as api, view as live:
        snapshots = Snapshots(api, args.queues)
        for refresh in refreshes:
            infos = snapshots.take()
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
                live.update(table(infos, rates, live.console), refresh=True)
            if args.count is None or refresh < args.count:
                time.sleep(args.interval)
    return 0
