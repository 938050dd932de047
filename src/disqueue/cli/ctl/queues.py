"""`queues`, `create`, `delete`, `info`, `purge`: the queues of a server."""

from __future__ import annotations

import argparse
from typing import Any

from disqueue.cli.ctl.common import client, emit_json, stdout


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add this group's commands."""
    cmd = commands.add_parser("queues", parents=[common], help="list the queues")
    cmd.set_defaults(run=list_queues)

    cmd = commands.add_parser("create", parents=[common], help="create a queue")
    cmd.add_argument("name", nargs="?", help="its name (default: a new UUID)")
    cmd.add_argument("--lease", type=float, help="default lease, seconds")
    cmd.add_argument("--max-attempts", type=int, help="deliveries before dead-lettering")
    cmd.add_argument("--dead-letter", help="queue that receives items past --max-attempts")
    cmd.add_argument("--max-items", type=int, help="refuse puts beyond this many items")
    cmd.set_defaults(run=create)

    for name, run, text in (
        ("delete", delete, "delete a queue and its items"),
        ("info", info, "a queue's depths, settings and totals"),
        ("purge", purge, "remove every ready and delayed item of a queue"),
    ):
        cmd = commands.add_parser(name, parents=[common], help=text)
        cmd.add_argument("queue")
        cmd.set_defaults(run=run)


def list_queues(args: argparse.Namespace) -> int:
    """Print the queue names, oldest first."""
    with client(args) as api:
        names = api.queues()
    if args.json:
        emit_json(names)
    else:
        for name in names:
            print(name)
    return 0


def create(args: argparse.Namespace) -> int:
    """Create a queue; print its name."""
    with client(args) as api:
        name = api.create_queue(
            args.name,
            lease=args.lease,
            max_attempts=args.max_attempts,
            dead_letter=args.dead_letter,
            max_items=args.max_items,
        )
    if args.json:
        emit_json({"name": name})
    else:
        print(name)
    return 0


def delete(args: argparse.Namespace) -> int:
    """Delete a queue."""
    with client(args) as api:
        api.delete_queue(args.queue)
    if args.json:
        emit_json({"deleted": args.queue})
    return 0


def info(args: argparse.Namespace) -> int:
    """Print a queue's information, one field a line."""
    with client(args) as api:
        details = api.info(args.queue).to_dict()
    if args.json:
        emit_json(details)
        return 0
    console = stdout()
    width = max(len(name) for name in details)
    for name, value in details.items():
        console.print(f"{name:<{width}}  {'-' if value is None else value}")
    return 0


def purge(args: argparse.Namespace) -> int:
    """Purge a queue; print how many items went."""
    with client(args) as api:
        purged = api.purge(args.queue)
    if args.json:
        emit_json({"purged": purged})
    else:
        print(f"purged {purged}")
    return 0
