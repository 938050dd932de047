"""The HTTP API of API.md: each call reads parameters, asks the service, and returns the
payload of the envelope. The calls know no web framework: aiohttp's routes (`app.py`)
and the plain-connection stack (`fast.py`) run the same ones. The actions the WebSocket
offers too are in `actions.py`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from disqueue.auth.permissions import ACCESS, Access
from disqueue.core import QueueService
from disqueue.models import QueueSettings
from disqueue.server.actions import ACTIONS
from disqueue.server.envelope import ok
from disqueue.server.params import Params, read_params
from disqueue.server.state import SERVICE


@dataclass(frozen=True, slots=True)
class Call:
    """One request to the API, as every HTTP stack gives it: the service, the request's
    parameters, the user's rights (None without `permissions`), and whether the client
    has hung up (for a long poll)."""

    service: QueueService
    params: Params
    access: Access | None
    gone: Callable[[], bool]


Run = Callable[[Call], Awaitable[Any]]


async def queues(call: Call) -> Any:
    names = await call.service.queues()
    return names if call.access is None else call.access.visible(names)


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


async def create_queue(call: Call) -> Any:
    params = call.params
    given = _settings(params)  # by name: an explicit default (`ordered=0`) is compared too
    settings = QueueSettings(**given)
    return await call.service.create_queue(params.get("name"), settings, given)


async def change_settings(call: Call) -> Any:
    """Change some of a queue's settings; the queue's information."""
    name, changes = call.params.require("name"), _settings(call.params, clearing=True)
    return await call.service.change_settings(name, **changes)


async def info(call: Call) -> Any:
    return await call.service.info(call.params.require("name"))


async def delete_queue(call: Call) -> Any:
    await call.service.delete_queue(call.params.require("name"))


async def purge(call: Call) -> Any:
    name, in_flight = call.params.require("name"), call.params.flag("in_flight")
    return {"purged": await call.service.purge(name, in_flight=in_flight)}


async def redrive(call: Call) -> Any:
    """Dead letters back to `to` or where they came from: `{"moved": n}`."""
    params = call.params
    name, to, count = params.require("name"), params.get("to"), params.integer("count")
    return {"moved": await call.service.redrive(name, to, count)}


async def pause(call: Call) -> Any:
    """Stop deliveries; the queue's information."""
    name = call.params.require("name")
    await call.service.pause(name)
    return await call.service.info(name)


async def resume(call: Call) -> Any:
    """Deliver again; the queue's information."""
    name = call.params.require("name")
    await call.service.resume(name)
    return await call.service.info(name)


async def take(call: Call) -> Any:
    params, service = call.params, call.service
    name, key = params.require("name"), params.get("key")
    lease, wait = params.number("lease"), params.number("wait") or 0.0
    count = params.integer("count")
    gone = call.gone if wait else None
    if count is None:
        item = await service.take(name, key, lease=lease, wait=wait, gone=gone)
        return item.to_wire()
    items = await service.take_many(name, key, count=count, lease=lease, wait=wait, gone=gone)
    return [item.to_wire() for item in items]


async def peek(call: Call) -> Any:
    item = await call.service.peek(call.params.require("name"), call.params.get("key"))
    return item.to_wire()


def _action(name: str) -> Run:
    """An action both transports offer (server/actions.py), on the queue `name` names."""
    run = ACTIONS[name].run

    async def action(call: Call) -> Any:
        return await run(call.service, call.params.require("name"), call.params)

    return action


#: Every call of the API: (method, path) → call.
CALLS: dict[tuple[str, str], Run] = {
    ("GET", "/queues"): queues,
    ("POST", "/queues"): create_queue,
    ("POST", "/queue"): info,
    ("DELETE", "/queue"): delete_queue,
    ("POST", "/queue/settings"): change_settings,
    ("POST", "/put"): _action("put"),
    ("POST", "/take"): take,
    ("POST", "/peek"): peek,
    ("POST", "/ack"): _action("ack"),
    ("POST", "/release"): _action("release"),
    ("POST", "/touch"): _action("touch"),
    ("POST", "/purge"): purge,
    ("POST", "/redrive"): redrive,
    ("POST", "/pause"): pause,
    ("POST", "/resume"): resume,
}


def handler(run: Run) -> Callable[[web.Request], Awaitable[web.Response]]:
    """`run` as an aiohttp handler."""

    async def handle(request: web.Request) -> web.Response:
        params = await read_params(request)
        call = Call(request.app[SERVICE], params, request.get(ACCESS), _hung_up(request))
        return ok(await run(call))

    return handle


def _hung_up(request: web.Request) -> Callable[[], bool]:
    """Whether the client of `request` closed its connection."""
    transport = request.transport

    def gone() -> bool:
        return transport is None or transport.is_closing()

    return gone
