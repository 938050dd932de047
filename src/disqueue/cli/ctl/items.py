"""`put`, `take`, `peek`, `ack`, `release`, `touch`: the items of a queue."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from disqueue.cli.ctl.common import FAILED, UNREACHABLE, USAGE, Failure, client, emit_json, stderr
from disqueue.client.calls import MAX_BATCH
from disqueue.client.errors import ClientError, ConnectionFailed, NoItem
from disqueue.client.models import Item
from disqueue.client.sync import Client


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add this group's commands."""
    cmd = commands.add_parser(
        "put",
        parents=[common],
        help="put a value, or one item per line of a file or stdin",
        description="Put VALUE; without VALUE, put each line of --file (or stdin) as an "
        "item, in batches, with a progress bar on a terminal. Blank lines are no items. A "
        "failure names the line, how many items were stored and the --skip that goes on; "
        "with --dedup-prefix the same input can be put again without duplicates.",
    )
    cmd.add_argument("queue")
    cmd.add_argument("value", nargs="?", help="the value (default: lines of --file or stdin)")
    cmd.add_argument("--key", help="the items' key")
    cmd.add_argument("--file", help="read the values from this file, one per line ('-': stdin)")
    cmd.add_argument("--delay", type=float, help="seconds before the items become visible")
    cmd.add_argument("--ttl", type=float, help="drop items still queued after this many seconds")
    cmd.add_argument("--dedup-id", help="de-duplication id (a single VALUE only)")
    cmd.add_argument(
        "--priority", type=int, help="0-9 (default 0): the highest priority is taken first"
    )
    cmd.add_argument(
        "--header",
        action="append",
        metavar="NAME=VALUE",
        help="a header every item carries (repeat for more)",
    )
    cmd.add_argument(
        "--dedup-prefix",
        metavar="PREFIX",
        help="give each line's item the dedup id PREFIX:<line number>, so that putting the "
        "same input again within 5 minutes stores nothing twice",
    )
    cmd.add_argument(
        "--skip",
        type=int,
        default=0,
        metavar="N",
        help="pass over the first N lines (what a failed put says to resume with)",
    )
    cmd.add_argument(
        "--batch", type=int, default=MAX_BATCH, help=f"items per request (default {MAX_BATCH})"
    )
    cmd.set_defaults(run=put)

    cmd = commands.add_parser("take", parents=[common], help="take items")
    cmd.add_argument("queue")
    cmd.add_argument("--key", help="only an item with this key")
    cmd.add_argument("--lease", type=float, help="hold the items until acked (seconds)")
    cmd.add_argument("--wait", type=float, help="wait up to this many seconds for an item")
    cmd.add_argument("--count", type=int, help="take up to this many items")
    cmd.set_defaults(run=take)

    cmd = commands.add_parser("peek", parents=[common], help="show the next item, leaving it")
    cmd.add_argument("queue")
    cmd.add_argument("--key", help="only an item with this key")
    cmd.set_defaults(run=peek)

    for name, run, text in (
        ("ack", ack, "acknowledge a leased item"),
        ("release", release, "give a leased item back to its queue"),
        ("touch", touch, "extend the lease of an item"),
    ):
        cmd = commands.add_parser(name, parents=[common], help=text)
        cmd.add_argument("queue")
        cmd.add_argument("id", metavar="receipt", help="the delivery's receipt (or item id)")
        if name == "release":
            cmd.add_argument("--delay", type=float, help="seconds before it is visible again")
        if name == "touch":
            cmd.add_argument("--lease", type=float, required=True, help="seconds from now")
        cmd.set_defaults(run=run)


def put(args: argparse.Namespace) -> int:
    """Put one value, or every line of the input."""
    if not 1 <= args.batch <= MAX_BATCH:
        raise Failure(f"--batch must be 1..{MAX_BATCH}", USAGE)
    if args.skip < 0:
        raise Failure("--skip must be 0 or more", USAGE)
    args.headers = _headers(args.header)
    with client(args) as api:
        if args.value is not None:
            if args.dedup_prefix is not None or args.skip:
                raise Failure("--dedup-prefix and --skip read lines: give no VALUE", USAGE)
            item_id = api.put(
                args.queue, args.value, args.key, delay=args.delay, ttl=args.ttl,
                dedup_id=args.dedup_id, headers=args.headers, priority=args.priority,
            )  # fmt: skip
            emit_json({"id": item_id}) if args.json else print(item_id)
            return 0
        if args.dedup_id is not None:
            raise Failure("--dedup-id needs a single VALUE", USAGE)
        if args.file in (None, "-"):
            if sys.stdin.isatty():
                raise Failure("no value: give VALUE or --file, or pipe lines on stdin", USAGE)
            done = _put_lines(api, args, sys.stdin.buffer)
        else:
            try:
                with open(args.file, "rb") as source:
                    done = _put_lines(api, args, source)
            except OSError as exc:
                raise Failure(f"{args.file}: {exc.strerror}") from exc
    if args.json:
        emit_json({"put": done.stored, "blank": done.blank})
    else:
        blank = f" ({done.blank} blank lines skipped)" if done.blank else ""
        print(f"put {done.stored} items{blank}")
    return 0


def _headers(given: list[str] | None) -> dict[str, str] | None:
    """`--header NAME=VALUE` options as headers (None: none)."""
    headers: dict[str, str] = {}
    for text in given or []:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise Failure(f"--header {text!r}: give NAME=VALUE", USAGE)
        headers[name] = value
    return headers or None


@dataclass
class Lines:
    """Where a bulk put is: items stored, input lines read (the last stored batch's
    last line: `--skip` this many to go on), blank lines passed over."""

    stored: int = 0
    lines: int = 0
    blank: int = 0


def _put_lines(api: Client, args: argparse.Namespace, source: IO[bytes]) -> Lines:
    """Put each non-blank line of `source` as an item, `args.batch` per request. A
    failure says which line failed, how many items were stored and how to go on."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    try:
        size: int | None = os.fstat(source.fileno()).st_size or None
    except (OSError, ValueError):
        size = None
    console = stderr()
    progress = Progress(
        TextColumn("put"),
        BarColumn(),
        TextColumn("{task.fields[items]:,} items"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    done = Lines(lines=args.skip)
    batch = Batch()
    with progress:
        task = progress.add_task("put", total=size, items=0)
        try:
            for batch in _batches(source, args, done):
                api.put_many(args.queue, batch.items)
                done.stored += len(batch.items)
                done.lines = batch.last
                progress.update(task, advance=batch.read, items=done.stored)
        except (ClientError, NotText) as exc:
            raise _partial(exc, batch, done, args) from exc
    return done


class NotText(Exception):
    """An input line that is not UTF-8."""

    def __init__(self, line: int) -> None:
        super().__init__("not UTF-8 text")
        self.line = line


@dataclass
class Batch:
    """The items of one request, the input line of each, and the bytes read for it."""

    items: list[dict[str, Any]] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    read: int = 0

    @property
    def last(self) -> int:
        return self.numbers[-1] if self.numbers else 0


def _batches(source: IO[bytes], args: argparse.Namespace, done: Lines) -> Iterator[Batch]:
    """Batches of items from the lines of `source` after the first `args.skip`; blank
    lines are no items (counted in `done.blank`). With `--dedup-prefix P`, each item's
    dedup id is `P:<line number>`, so putting the same input again stores nothing twice."""
    template = {
        name: value
        for name, value in (
            ("key", args.key),
            ("delay", args.delay),
            ("ttl", args.ttl),
            ("headers", args.headers),
            ("priority", args.priority),
        )
        if value is not None
    }
    batch = Batch()
    for number, line in enumerate(source, 1):
        if number <= args.skip:
            continue
        batch.read += len(line)
        try:
            value = line.decode("utf-8").removesuffix("\n").removesuffix("\r")
        except UnicodeDecodeError:
            raise NotText(number) from None
        if not value:
            done.blank += 1
            continue
        item = {"value": value, **template}
        if args.dedup_prefix is not None:
            item["dedup_id"] = f"{args.dedup_prefix}:{number}"
        batch.items.append(item)
        batch.numbers.append(number)
        if len(batch.items) == args.batch:
            yield batch
            batch = Batch()
    if batch.items:
        yield batch


_ITEM_ERROR = re.compile(r"items\[(\d+)\]: (.*)")


def _partial(exc: ClientError | NotText, batch: Batch, done: Lines, args: Any) -> Failure:
    """The failure of a bulk put: the line (or the lines of the batch) that failed, the
    items stored before it, and the `--skip` that goes on from there."""
    unsure = isinstance(exc, ConnectionFailed)  # the batch may have been stored
    line: int | None
    if isinstance(exc, NotText):
        where, reason, line = f"line {exc.line}", str(exc), exc.line
    elif (found := _ITEM_ERROR.fullmatch(exc.message)) and int(found[1]) < len(batch.numbers):
        line = batch.numbers[int(found[1])]
        where, reason = f"line {line}", found[2]
    else:
        line = batch.numbers[0] if batch.numbers else None
        where = f"lines {batch.numbers[0]}-{batch.last}" if batch.numbers else "input"
        reason = exc.message
    stored = f"{done.stored} items stored" if done.stored else "nothing stored"
    resume = f"--skip {done.lines}" if done.lines else "the same command"
    if unsure and args.dedup_prefix is None:
        hint = f"this batch may be stored too; resume with {resume} (may repeat it)"
    else:
        hint = f"resume with {resume}"
    status = UNREACHABLE if unsure else FAILED
    details: dict[str, Any] = {"line": line, "stored": done.stored, "skip": done.lines}
    if isinstance(exc, ClientError):
        details["status"] = exc.status
    return Failure(f"{where}: {reason}; {stored}; {hint}", status, **details)


def _show(items: list[Item], args: argparse.Namespace) -> None:
    for item in items:
        if args.json:
            emit_json(item.to_dict())
        elif item.lease_expires is not None:
            print(f"{item.receipt or item.id}\t{item.value}")  # what `ack` needs
        else:
            print(item.value)


def take(args: argparse.Namespace) -> int:
    """Take an item (or up to --count); print each value (leased: receipt TAB value)."""
    with client(args) as api:
        if args.count is None:
            items = [api.take(args.queue, args.key, lease=args.lease, wait=args.wait)]
        else:
            items = api.take(
                args.queue, args.key, lease=args.lease, wait=args.wait, count=args.count
            )
    if not items:  # as a take without --count: nothing taken is exit status 1
        raise NoItem("no item to take", 404)
    if args.json and args.count is not None:
        emit_json([item.to_dict() for item in items])
    else:
        _show(items, args)
    return 0


def peek(args: argparse.Namespace) -> int:
    """Print the next item's value, leaving it in the queue."""
    with client(args) as api:
        _show([api.peek(args.queue, args.key)], args)
    return 0


def ack(args: argparse.Namespace) -> int:
    """Acknowledge a leased item."""
    with client(args) as api:
        api.ack(args.queue, args.id)
    if args.json:
        emit_json({"acked": args.id})
    return 0


def release(args: argparse.Namespace) -> int:
    """Release a leased item."""
    with client(args) as api:
        api.release(args.queue, args.id, args.delay)
    if args.json:
        emit_json({"released": args.id})
    return 0


def touch(args: argparse.Namespace) -> int:
    """Extend a lease; print the new expiry (Unix time)."""
    with client(args) as api:
        expires = api.touch(args.queue, args.id, args.lease)
    emit_json({"lease_expires": expires}) if args.json else print(expires)
    return 0
