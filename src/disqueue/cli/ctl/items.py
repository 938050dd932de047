"""`put`, `take`, `peek`, `ack`, `release`, `touch`: the items of a queue."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

from disqueue.cli.ctl.common import client, emit_json, stderr
from disqueue.client.calls import MAX_BATCH
from disqueue.client.errors import BadRequest
from disqueue.client.models import Item
from disqueue.client.sync import Client


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add this group's commands."""
    cmd = commands.add_parser(
        "put",
        parents=[common],
        help="put a value, or one item per line of a file or stdin",
        description="Put VALUE; without VALUE, put each line of --file (or stdin) as an "
        "item, in batches, with a progress bar on a terminal.",
    )
    cmd.add_argument("queue")
    cmd.add_argument("value", nargs="?", help="the value (default: lines of --file or stdin)")
    cmd.add_argument("--key", help="the items' key")
    cmd.add_argument("--file", help="read the values from this file, one per line ('-': stdin)")
    cmd.add_argument("--delay", type=float, help="seconds before the items become visible")
    cmd.add_argument("--ttl", type=float, help="drop items still queued after this many seconds")
    cmd.add_argument("--dedup-id", help="de-duplication id (a single VALUE only)")
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
        raise BadRequest(f"--batch must be 1..{MAX_BATCH}")
    with client(args) as api:
        if args.value is not None:
            item_id = api.put(
                args.queue, args.value, args.key, delay=args.delay, ttl=args.ttl,
                dedup_id=args.dedup_id,
            )  # fmt: skip
            emit_json({"id": item_id}) if args.json else print(item_id)
            return 0
        if args.dedup_id is not None:
            raise BadRequest("--dedup-id needs a single VALUE")
        if args.file in (None, "-"):
            if sys.stdin.isatty():
                raise BadRequest("no value: give VALUE or --file, or pipe lines on stdin")
            count = _put_lines(api, args, sys.stdin.buffer)
        else:
            try:
                with open(args.file, "rb") as source:
                    count = _put_lines(api, args, source)
            except OSError as exc:
                raise BadRequest(f"{args.file}: {exc.strerror}") from exc
    emit_json({"put": count}) if args.json else print(f"put {count} items")
    return 0


def _put_lines(api: Client, args: argparse.Namespace, source: IO[bytes]) -> int:
    """Put each line of `source` as an item, `args.batch` per request; how many."""
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
    count = 0
    with progress:
        task = progress.add_task("put", total=size, items=0)
        for batch, read in _batches(source, args):
            api.put_many(args.queue, batch)
            count += len(batch)
            progress.update(task, advance=read, items=count)
    return count


def _batches(
    source: IO[bytes], args: argparse.Namespace
) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """Lists of items from the lines of `source`, and the bytes each list was read from."""
    template = {
        name: value
        for name, value in (("key", args.key), ("delay", args.delay), ("ttl", args.ttl))
        if value is not None
    }
    batch: list[dict[str, Any]] = []
    read = 0
    for number, line in enumerate(source, 1):
        read += len(line)
        try:
            value = line.decode("utf-8").removesuffix("\n").removesuffix("\r")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"line {number} is not UTF-8 text") from exc
        batch.append({"value": value, **template})
        if len(batch) == args.batch:
            yield batch, read
            batch, read = [], 0
    if batch:
        yield batch, read


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
