"""The optional access log (`"log": {"access": true}`): one line per HTTP request."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

#: The logger access lines go to; the JSON log format adds their fields.
ACCESS_LOG = logging.getLogger("disqueue.access")


class AccessLogger(AbstractAccessLogger):
    """`<client> <method> <path> <status> <bytes> <ms>`, and the same as fields."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        log_access(request.remote, request.method, request.path, response.status,
                   response.body_length, time, self.logger)  # fmt: skip


def log_access(
    remote: str | None,
    method: str,
    path: str,
    status: int,
    size: int,
    seconds: float,
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = ACCESS_LOG,
) -> None:
    """One access line, whichever HTTP stack answered."""
    fields = {"remote": remote, "method": method, "path": path, "status": status,
              "bytes": size, "ms": round(seconds * 1000, 3)}  # fmt: skip
    logger.info("%s %s %s %d %d %.3fms", *fields.values(), extra={"access": fields})
