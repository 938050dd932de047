"""Request parameters: query string, then a form or JSON body (the body wins)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from disqueue.errors import BadRequest, InvalidParameter, MissingParameter


class Params:
    """The parameters of one request, all strings."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def require(self, name: str) -> str:
        value = self._values.get(name)
        if value is None:
            raise MissingParameter(name)
        return value


async def read_params(request: web.Request) -> Params:
    """Gather the parameters; undecodable bodies and non-string values are 400s."""
    values = dict(request.query) if request.query_string else {}
    if request.body_exists:
        kind = request.content_type
        if kind == "application/json":
            values.update(_json_params(await request.read()))
        elif kind == "multipart/form-data":
            for name, value in (await request.post()).items():
                if not isinstance(value, str):
                    raise InvalidParameter(name)
                values[name] = value
        else:
            # Form bodies are what the original clients send, with or without the header.
            values.update(_form_params(await request.read()))
    return Params(values)


def _form_params(body: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("invalid request body") from exc


def _json_params(body: bytes) -> dict[str, str]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("invalid request body") from exc
    if not isinstance(data, dict):
        raise BadRequest("invalid request body")
    values = {}
    for name, value in data.items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidParameter(name)
        values[name] = value
    return values
