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

from disqueue import __version__
from disqueue.cli import passwd
from disqueue.cli.ctl import items, queues, watch
from disqueue.cli.ctl.common import EXIT_STATUSES, INTERRUPTED, Failure, common_options
from disqueue.client.errors import ClientError

#: The command groups, in the order `disqueuectl -h` lists them.
GROUPS = (queues, items, watch, passwd)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    parser = argparse.ArgumentParser(
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status."""
    args = build_parser().parse_args(argv)
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
