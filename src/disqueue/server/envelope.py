"""The JSON envelope of every response, and the one table from errors to responses."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from disqueue.errors import (
    AuthenticationRequired,
    BadRequest,
    DisqueueError,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    TooLarge,
)

_JSON = "application/json"

#: aiohttp's own HTTP errors (raised by the router or the body reader) as ours.
_HTTP_ERRORS: dict[int, type[DisqueueError]] = {
    400: BadRequest,
    401: AuthenticationRequired,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    413: TooLarge,
}


def ok_body(payload: Any = None) -> bytes:
    return orjson.dumps({"success": True, "message": None, "payload": payload})


def ok(payload: Any = None) -> web.Response:
    return web.Response(body=ok_body(payload), content_type=_JSON)


def failure_body(message: str, payload: Any = None) -> bytes:
    return orjson.dumps({"success": False, "message": message, "payload": payload})


def error(exc: DisqueueError, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=exc.status, body=failure_body(exc.message), content_type=_JSON, headers=headers
    )


def from_http_exception(exc: web.HTTPException) -> DisqueueError:
    """The Disqueue error for an HTTP error raised inside aiohttp."""
    kind = _HTTP_ERRORS.get(exc.status)
    if kind is not None:
        return kind()
    mapped = DisqueueError(exc.reason.lower())
    mapped.status = exc.status
    return mapped
