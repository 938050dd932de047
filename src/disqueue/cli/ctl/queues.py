"""`queues`, `create`, `settings`, `delete`, `info`, `purge`, `pause`, `resume`,
`redrive`: the queues of a server."""

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
    _setting_options(cmd)
    cmd.add_argument("--ordered", action="store_true",
                     help="each key a group: delivered in put order, one in flight at a "
                          "time (it cannot change later)")  # fmt: skip
    cmd.set_defaults(run=create)

    cmd = commands.add_parser("settings", parents=[common],
                              help="change a queue's settings at once")  # fmt: skip
    cmd.add_argument("queue")
    _setting_options(cmd)
    cmd.add_argument("--clear", action="append", default=[], choices=sorted(SETTINGS),
                     metavar="SETTING", help="clear a setting (may be repeated)")  # fmt: skip
    cmd.set_defaults(run=settings)

    cmd = commands.add_parser("redrive", parents=[common],
                              help="send a dead-letter queue's items back")  # fmt: skip
    cmd.add_argument("queue", help="the dead-letter queue")
    cmd.add_argument("--to", help="send them here (default: where each came from)")
    cmd.add_argument("--count", type=int, help="at most this many, oldest first")
    cmd.set_defaults(run=redrive)

    for name, run, text in (
        ("delete", delete, "delete a queue and its items"),
        ("info", info, "a queue's depths, settings and totals"),
        ("purge", purge, "remove every ready and delayed item of a queue"),
        ("pause", pause, "stop deliveries from a queue (puts go on)"),
        ("resume", resume, "deliver from a paused queue again"),
    ):
        cmd = commands.add_parser(name, parents=[common], help=text)
        cmd.add_argument("queue")
        if run is purge:
            cmd.add_argument("--in-flight", action="store_true",
                             help="drop the items in flight too (their receipts end)")  # fmt: skip
        cmd.set_defaults(run=run)


#: The settings options, by the name the API gives each.
SETTINGS = ("lease", "max_attempts", "dead_letter", "max_items", "retry_delays", "delay", "ttl")


def _setting_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--lease", type=float, help="default lease, seconds")
    cmd.add_argument("--max-attempts", type=int, help="deliveries before dead-lettering")
    cmd.add_argument("--dead-letter", help="queue that receives items past --max-attempts")
    cmd.add_argument("--max-items", type=int, help="refuse puts beyond this many items")
    cmd.add_argument("--retry-delays", type=_delays, metavar="S1,S2,...",
                     help="seconds an item waits after its n-th failed delivery")  # fmt: skip
    cmd.add_argument("--delay", type=float, help="delay of items put without their own")
    cmd.add_argument("--ttl", type=float, help="ttl of items put without their own")


def _delays(text: str) -> list[float]:
    """`--retry-delays 1,5,30`: the server checks the ranges."""
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of seconds: {text!r}") from None


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
            retry_delays=args.retry_delays,
            delay=args.delay,
            ttl=args.ttl,
            ordered=args.ordered,
        )
    if args.json:
        emit_json({"name": name})
    else:
        print(name)
    return 0


def settings(args: argparse.Namespace) -> int:
    """Change the settings given (and clear those named by --clear); print the queue's
    information, as `info` does."""
    changes: dict[str, Any] = {name: getattr(args, name) for name in SETTINGS}
    changes = {name: value for name, value in changes.items() if value is not None}
    changes |= dict.fromkeys(args.clear)
    with client(args) as api:
        details = api.change_settings(args.queue, **changes).to_dict()
    _show(args, details)
    return 0


def redrive(args: argparse.Namespace) -> int:
    """Redrive a dead-letter queue; print how many items moved."""
    with client(args) as api:
        moved = api.redrive(args.queue, to=args.to, count=args.count)
    if args.json:
        emit_json({"moved": moved})
    else:
        print(f"moved {moved}")
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
    _show(args, details)
    return 0


def _show(args: argparse.Namespace, details: dict[str, Any]) -> None:
    """A queue's information, one field a line (or as JSON)."""
    if args.json:
        emit_json(details)
        return
    console = stdout()
    width = max(len(name) for name in details)
    for name, value in details.items():
        console.print(f"{name:<{width}}  {'-' if value is None else value}")


def purge(args: argparse.Namespace) -> int:
    """Purge a queue; print how many items went."""
    with client(args) as api:
        purged = api.purge(args.queue, in_flight=args.in_flight)
    if args.json:
        emit_json({"purged": purged})
    else:
        print(f"purged {purged}")
    return 0


def pause(args: argparse.Namespace) -> int:
    """Pause a queue; print its state."""
    return _paused(args, pause=True)


def resume(args: argparse.Namespace) -> int:
    """Resume a queue; print its state."""
    return _paused(args, pause=False)


def _paused(args: argparse.Namespace, *, pause: bool) -> int:
    with client(args) as api:
        details = (api.pause if pause else api.resume)(args.queue)
    if args.json:
        emit_json({"name": details.name, "paused": details.paused})
    else:
        print(f"{details.name} {'paused' if details.paused else 'resumed'}")
    return 0
