"""The HTTP handlers of API.md: each reads parameters, calls the service, answers. The
actions the WebSocket offers too are in `actions.py`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from disqueue.auth.permissions import ACCESS, Access
from disqueue.models import QueueSettings
from disqueue.server.actions import ACTIONS
from disqueue.server.envelope import ok
from disqueue.server.params import Params, read_params
from disqueue.server.state import SERVICE


async def queues(request: web.Request) -> web.Response:
    names = await request.app[SERVICE].queues()
    access: Access | None = request.get(ACCESS)
    return ok(names if access is None else access.visible(names))


#: A queue's settings as requests give them (`POST /queues`, `POST /queue/settings`).
_SETTINGS: dict[str, Callable[[Params, str], Any]] = {
    "lease": Params.number, "max_attempts": Params.integer, "dead_letter": Params.get,
    "max_items": Params.integer, "retry_delays": Params.numbers, "delay": Params.number,
    "ttl": Params.number, "ordered": Params.flag,
}  # fmt: skip


def _settings(params: Params, *, clearing: bool = False) -> dict[str, Any]:
    """The settings a request gives, by `QueueSettings` field (`clearing`: an empty value
    is None, the setting cleared; otherwise it is as invalid as any other)."""
    return {
        name: None if clearing and params.raw(name) == "" else read(params, name)
        for name, read in _SETTINGS.items()
        if params.has(name)
    }


async def create_queue(request: web.Request) -> web.Response:
    params = await read_params(request)
    given = _settings(params)  # by name: an explicit default (`ordered=0`) is compared too
    settings = QueueSettings(**given)
    return ok(await request.app[SERVICE].create_queue(params.get("name"), settings, given))


async def change_settings(request: web.Request) -> web.Response:
    """Change some of a queue's settings; the queue's information."""
    params = await read_params(request)
    name, changes = params.require("name"), _settings(params, clearing=True)
    return ok(await request.app[SERVICE].change_settings(name, **changes))


async def info(request: web.Request) -> web.Response:
    params = await read_params(request)
    return ok(await request.app[SERVICE].info(params.require("name")))


async def delete_queue(request: web.Request) -> web.Response:
    params = await read_params(request)
    await request.app[SERVICE].delete_queue(params.require("name"))
    return ok(None)


async def purge(request: web.Request) -> web.Response:
    params = await read_params(request)
    name, in_flight = params.require("name"), params.flag("in_flight")
    return ok({"purged": await request.app[SERVICE].purge(name, in_flight=in_flight)})


async def redrive(request: web.Request) -> web.Response:
    """Dead letters back to `to` or where they came from: `{"moved": n}`."""
    params = await read_params(request)
    name, to, count = params.require("name"), params.get("to"), params.integer("count")
    return ok({"moved": await request.app[SERVICE].redrive(name, to, count)})


async def pause(request: web.Request) -> web.Response:
    """Stop deliveries; the queue's information."""
    params = await read_params(request)
    service, name = request.app[SERVICE], params.require("name")
    await service.pause(name)
    return ok(await service.info(name))


async def resume(request: web.Request) -> web.Response:
    """Deliver again; the queue's information."""
    params = await read_params(request)
    service, name = request.app[SERVICE], params.require("name")
    await service.resume(name)
    return ok(await service.info(name))


async def put(request: web.Request) -> web.Response:
    return await _action(request, "put")


async def take(request: web.Request) -> web.Response:
    params = await read_params(request)
    service = request.app[SERVICE]
    name, key = params.require("name"), params.get("key")
    lease, wait = params.number("lease"), params.number("wait") or 0.0
    count = params.integer("count")
    gone = _hung_up(request) if wait else None
    if count is None:
        item = await service.take(name, key, lease=lease, wait=wait, gone=gone)
        return ok(item.to_wire())
    items = await service.take_many(name, key, count=count, lease=lease, wait=wait, gone=gone)
    return ok([item.to_wire() for item in items])


def _hung_up(request: web.Request) -> Callable[[], bool]:
    """Whether the client of `request` closed its connection."""
    transport = request.transport

    def gone() -> bool:
        return transport is None or transport.is_closing()

    return gone


async def peek(request: web.Request) -> web.Response:
    params = await read_params(request)
    item = await request.app[SERVICE].peek(params.require("name"), params.get("key"))
    return ok(item.to_wire())


async def ack(request: web.Request) -> web.Response:
    return await _action(request, "ack")


async def release(request: web.Request) -> web.Response:
    return await _action(request, "release")


async def touch(request: web.Request) -> web.Response:
    return await _action(request, "touch")


async def _action(request: web.Request, name: str) -> web.Response:
    """An action both transports offer (server/actions.py), on the queue `name` names."""
    params = await read_params(request)
    queue = params.require("name")
    return ok(await ACTIONS[name].run(request.app[SERVICE], queue, params))
