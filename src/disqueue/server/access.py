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
        fields = {
            "remote": request.remote,
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "bytes": response.body_length,
            "ms": round(time * 1000, 3),
        }
        self.logger.info("%s %s %s %d %d %.3fms", *fields.values(), extra={"access": fields})
