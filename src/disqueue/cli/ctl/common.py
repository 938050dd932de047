"""What every `disqueuectl` command shares: server options, the client, output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console

from disqueue.client.sync import Client


def common_options(suppress: bool = False) -> argparse.ArgumentParser:
    """The options every command accepts (a parent parser). They may stand before the
    command or after it: the command's copy has `suppress` set, so what it was not
    given does not overwrite what came before it."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    common = argparse.ArgumentParser(add_help=False)
    server = common.add_argument_group("server")
    server.add_argument(
        "--url",
        default=default(None),
        help="server URL (default: DISQUEUE_URL or http://127.0.0.1:3682)",
    )
    server.add_argument("--user", default=default(None), help="user name (default: DISQUEUE_USER)")
    server.add_argument(
        "--password", default=default(None), help="password (default: DISQUEUE_PASSWORD)"
    )
    server.add_argument("--ca-file", default=default(None), help="PEM file of the CA to trust")
    server.add_argument(
        "--cert", default=default(None), help="PEM file with a client certificate (and its key)"
    )
    server.add_argument(
        "--cert-key", default=default(None), help="PEM file with the client certificate's key"
    )
    server.add_argument(
        "--insecure",
        action="store_true",
        default=default(False),
        help="do not verify the server's certificate",
    )
    server.add_argument(
        "--timeout", type=float, default=default(30.0), help="seconds (default: 30)"
    )
    common.add_argument(
        "--json", action="store_true", default=default(False), help="write JSON, for scripts"
    )
    return common


def client(args: argparse.Namespace) -> Client:
    """A client for the server the options name."""
    auth = None
    if args.user is not None:
        auth = (args.user, args.password or "")
    return Client(
        args.url,
        auth,
        ca_file=args.ca_file,
        cert=args.cert,
        key=args.cert_key,
        verify=not args.insecure,
        timeout=args.timeout,
    )


def emit_json(value: Any) -> None:
    """One JSON document on stdout, on one line."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def stdout() -> Console:
    """A console on stdout (plain text when it is not a terminal)."""
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    """A console on stderr, for progress."""
    return Console(stderr=True, highlight=False)
