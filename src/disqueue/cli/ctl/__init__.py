"""`disqueuectl`: the operator's command line for a Disqueue server.

Each command group is a module with `register(commands, common)`; to add one, write
the module and list it in `GROUPS`. A command's
function takes the parsed arguments and returns the exit status; a `ClientError` or a
`Failure` becomes one line on stderr (a JSON object under `--json`) and the exit
status of `common.py`, the same for every command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from disqueue import __version__
from disqueue.cli import passwd
from disqueue.cli.ctl import items, queues, watch
from disqueue.cli.ctl.common import EXIT_STATUSES, INTERRUPTED, USAGE, Failure, common_options
from disqueue.client.errors import ClientError

#: The command groups, in the order `disqueuectl -h` lists them.
GROUPS = (queues, items, watch, passwd)


class Parser(argparse.ArgumentParser):
    """argparse, whose usage errors under `--json` are a JSON object as every other
    failure is (argparse's own text otherwise); exit status 2 either way."""

    def __init__(self, *args: Any, json_errors: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.json_errors = json_errors

    def error(self, message: str) -> NoReturn:
        if self.json_errors:
            sys.exit(Failure(message, USAGE).report(as_json=True))
        super().error(message)


def build_parser(json_errors: bool = False) -> argparse.ArgumentParser:
    """The parser of every command (`json_errors`: usage errors as JSON)."""
    parser = Parser(
        json_errors=json_errors,
        prog="disqueuectl",
        parents=[common_options()],
        description="Manage a Disqueue server: queues, items, live depths, passwords.",
        epilog="The server and credentials default to DISQUEUE_URL, DISQUEUE_USER and "
        f"DISQUEUE_PASSWORD. {EXIT_STATUSES}.",
    )
    parser.add_argument("--version", action="version", version=f"disqueuectl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = common_options(suppress=True)
    for group in GROUPS:
        group.register(commands, common)
    for command in commands.choices.values():  # each a Parser, made by add_parser
        command.json_errors = json_errors
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(json_errors="--json" in arguments).parse_args(arguments)
    try:
        status: int = args.run(args)
    except ClientError as exc:
        return Failure.from_client_error(exc).report(args.json)
    except Failure as failure:
        return failure.report(args.json)
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:  # `disqueuectl queues | head -1`
        sys.stderr.close()
        return 0
    return status
