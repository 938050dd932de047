"""`disqueue`: run the server (CONFIG.md, "Command line")."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

import orjson

from disqueue import __version__
from disqueue.config import Config, LogConfig
from disqueue.errors import ConfigError
from disqueue.server import serve


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "access", None)  # an access log line's fields
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def setup_logging(config: LogConfig) -> None:
    """Every log line to stderr, as text or one JSON object per line (CONFIG.md `log`)."""
    handler = logging.StreamHandler(sys.stderr)
    if config.format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="disqueue",
        description="Simple distributed queue service. Without -c, serves "
        "127.0.0.1:3682 with the default storage.",
    )
    p.add_argument("-c", "--config", metavar="FILE", help="JSON configuration file (CONFIG.md)")
    p.add_argument("-V", "--version", action="version", version=f"disqueue {__version__}")
    return p


def _run(coroutine_config: Config) -> None:
    try:
        import uvloop
    except ImportError:  # uvloop is optional (not built for every platform)
        asyncio.run(serve(coroutine_config))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(coroutine_config))


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = Config.from_file(args.config) if args.config else Config.default()
        setup_logging(config.log)
        _run(config)
    except ConfigError as exc:
        print(f"disqueue: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
