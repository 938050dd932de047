"""Request parameters: query string, then a form or JSON body (the body wins).

Values are strings; in a JSON body numbers may also be JSON numbers. The ranges
of the numeric parameters are the protocol's (API.md Part 2), in `RANGES`.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from disqueue import wire
from disqueue.errors import BadRequest, InvalidParameter, MissingParameter, RequestTimeout
from disqueue.server.state import LIMITS

#: name → (lowest, highest, whether the lowest itself is allowed, whole numbers only),
#: from the protocol's description (disqueue/wire.json `limits.parameters`).
RANGES: dict[str, tuple[float, float, bool, bool]] = wire.ranges()
#: name → how many numbers a list parameter holds at most (`wire.json`).
LENGTHS: dict[str, int] = wire.lengths()
_ON, _OFF = frozenset({"1", "true", True}), frozenset({"0", "false", False})


class Params:
    """The parameters of one request (or one WebSocket message)."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def get(self, name: str) -> str | None:
        """A string parameter, or None when absent (JSON null counts as absent)."""
        value = self._values.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise InvalidParameter(name)
            if "\x00" in value:  # PostgreSQL cannot store it: refused on every backend
                raise InvalidParameter(name, "must not contain NUL characters")
        return value

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise MissingParameter(name)
        return value

    def raw(self, name: str) -> Any:
        return self._values.get(name)

    def has(self, name: str) -> bool:
        return name in self._values

    def number(self, name: str) -> float | None:
        """A numeric parameter within its range (`RANGES`), or None when absent."""
        value = self._values.get(name)
        if value is None:
            return None
        low, high, low_included, whole = RANGES[name]
        invalid = BadRequest(f"invalid parameter '{name}'")
        if isinstance(value, str):
            try:
                value = int(value) if whole else float(value)
            except ValueError:
                raise invalid from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid
        if whole and isinstance(value, float) and not value.is_integer():
            raise invalid
        # `value != value` is NaN, without math.isnan's float(), which overflows on huge ints.
        if value != value or value > high or value < low or (value == low and not low_included):
            raise invalid
        return value

    def integer(self, name: str) -> int | None:
        value = self.number(name)
        return None if value is None else int(value)

    def flag(self, name: str) -> bool:
        """An on/off parameter (`wire.json` `limits.flags`): 1/true on, 0/false or
        absent off."""
        value = self._values.get(name)
        if value is None or (isinstance(value, str | bool) and value in _OFF):
            return False
        if isinstance(value, str | bool) and value in _ON:
            return True
        raise BadRequest(f"invalid parameter '{name}'")

    def numbers(self, name: str) -> tuple[float, ...] | None:
        """A list of numbers (a JSON array, or comma-separated text), each within its
        range, at most `LENGTHS[name]` of them; None when absent or empty."""
        value = self._values.get(name)
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")] if value.strip() else []
        if value is None or value == []:
            return None
        if not isinstance(value, list) or len(value) > LENGTHS[name]:
            raise BadRequest(f"invalid parameter '{name}'")
        numbers = []
        for entry in value:
            number = Params({name: entry}).number(name)
            if number is None:
                raise BadRequest(f"invalid parameter '{name}'")
            numbers.append(float(number))
        return tuple(numbers)


#: The request key under which the parameters are kept once read.
_PARAMS = "disqueue.params"


async def read_params(request: web.Request) -> Params:
    """Gather the parameters (once per request); undecodable bodies are 400s, and a
    body slower to arrive than `limits.body_timeout` is a 408."""
    params: Params | None = request.get(_PARAMS)
    if params is None:
        try:
            if request.content.is_eof():
                params = await _read(request)
            else:
                async with asyncio.timeout(request.app[LIMITS].body_timeout):
                    params = await _read(request)
        except TimeoutError:
            raise RequestTimeout() from None
        except web.RequestPayloadError as exc:  # e.g. a Content-Encoding it is not in
            raise BadRequest("invalid request body") from exc
        request[_PARAMS] = params
    return params


async def _read(request: web.Request) -> Params:
    # The query string still percent-encoded: decoded strictly below.
    query = request.rel_url.raw_query_string.encode("latin-1", "replace")
    if not request.body_exists:
        return Params(values(query))
    kind = request.content_type
    if kind != "multipart/form-data":
        return Params(values(query, kind, await request.read()))
    found = values(query)
    try:
        form = await request.post()
    except (ValueError, UnicodeDecodeError, AssertionError) as exc:
        raise BadRequest("invalid request body") from exc
    for name, value in form.items():
        if not isinstance(value, str):
            raise InvalidParameter(name)
        found[name] = value
    return Params(found)


def values(query: bytes, kind: str | None = None, body: bytes | None = None) -> dict[str, Any]:
    """The parameters of a query string (still percent-encoded) and a body of type
    `kind` (JSON, or a form: what the original clients send, with or without the
    header); the body's win."""
    found: dict[str, Any] = {}
    if query:
        found.update(_form_params(query, "invalid query string"))
    if body is not None:
        found.update(_json_params(body) if kind == "application/json" else _form_params(body))
    return found


def _form_params(body: bytes, invalid: str = "invalid request body") -> dict[str, str]:
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(invalid) from exc


def _json_params(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("invalid request body") from exc
    if not isinstance(data, dict):
        raise BadRequest("invalid request body")
    return data
