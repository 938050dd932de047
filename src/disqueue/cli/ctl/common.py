"""What every `disqueuectl` command shares: server options, the client, output, and
how a failure is reported (its line or JSON object, and its exit status)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from rich.console import Console

from disqueue.client.errors import AuthError, ClientError, ConnectionFailed
from disqueue.client.sync import Client

#: Exit statuses, the same for every command (README, `disqueuectl -h`).
OK = 0
#: The server refused the request, or there was nothing to take or peek.
FAILED = 1
#: The command line was wrong (argparse uses 2 as well).
USAGE = 2
#: The server could not be reached, or the connection broke.
UNREACHABLE = 3
#: Interrupted (Ctrl-C).
INTERRUPTED = 130

EXIT_STATUSES = f"""exit status: {OK} done; {FAILED} the server refused (or nothing to take \
or peek); {USAGE} wrong usage; {UNREACHABLE} server unreachable; {INTERRUPTED} interrupted"""

AUTH_HINT = "give --user and --password, or set DISQUEUE_USER and DISQUEUE_PASSWORD"


class Failure(Exception):
    """A command that failed: its one-line message, its exit status, and details that
    the `--json` form of the error carries beside the message."""

    def __init__(self, message: str, exit_status: int = FAILED, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.exit_status = exit_status
        self.details = details

    @classmethod
    def from_client_error(cls, exc: ClientError) -> Failure:
        """The failure a client error means for the operator."""
        if isinstance(exc, ConnectionFailed):
            return cls(exc.message, UNREACHABLE)
        message = exc.message
        if isinstance(exc, AuthError) and exc.status == 401:
            message = f"{message} ({AUTH_HINT})"
        return cls(message, FAILED, status=exc.status)

    def report(self, as_json: bool) -> int:
        """Write the failure on stderr (one line, or one JSON object); the exit status."""
        if as_json:
            error = {"error": self.message, "exit_status": self.exit_status, **self.details}
            sys.stderr.write(json.dumps(error, ensure_ascii=False) + "\n")
        else:
            print(f"disqueuectl: {self.message}", file=sys.stderr)
        return self.exit_status


def server_url(url: str | None) -> str | None:
    """The URL as given (or DISQUEUE_URL), with `http://` added when it names no scheme:
    `127.0.0.1:3682` means the server there, not a URL the client cannot use."""
    url = url if url is not None else os.environ.get("DISQUEUE_URL")
    if url and "://" not in url:
        return f"http://{url}"
    return url


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
        server_url(args.url),
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
