"""The HTTP handlers of API.md: each reads parameters, calls the service, answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from disqueue import wire
from disqueue.auth.permissions import ACCESS, Access
from disqueue.errors import BadRequest, DisqueueError
from disqueue.models import NewItem, QueueSettings
from disqueue.server.envelope import ok
from disqueue.server.params import Params, read_params
from disqueue.server.state import SERVICE

#: At most this many items in one batch put or one take with `count`.
MAX_BATCH = wire.MAX_BATCH
_PLAIN = frozenset({"value", "key"})


async def queues(request: web.Request) -> web.Response:
    names = await request.app[SERVICE].queues()
    access: Access | None = request.get(ACCESS)
    return ok(names if access is None else access.visible(names))


async def create_queue(request: web.Request) -> web.Response:
    params = await read_params(request)
    settings = QueueSettings(
        lease=params.number("lease"),
        max_attempts=params.integer("max_attempts"),
        dead_letter=params.get("dead_letter"),
        max_items=params.integer("max_items"),
    )
    return ok(await request.app[SERVICE].create_queue(params.get("name"), settings))


async def info(request: web.Request) -> web.Response:
    params = await read_params(request)
    return ok(await request.app[SERVICE].info(params.require("name")))


async def delete_queue(request: web.Request) -> web.Response:
    params = await read_params(request)
    await request.app[SERVICE].delete_queue(params.require("name"))
    return ok(None)


async def purge(request: web.Request) -> web.Response:
    params = await read_params(request)
    return ok({"purged": await request.app[SERVICE].purge(params.require("name"))})


def new_item(params: Params) -> NewItem:
    """An item to put, from `value`, `key` and the put options."""
    return NewItem(
        value=params.require("value"),
        key=params.get("key"),
        delay=params.number("delay") or 0.0,
        ttl=params.number("ttl"),
        dedup_id=params.get("dedup_id"),
    )


def _batch(raw: Any) -> list[NewItem]:
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_BATCH:
        raise BadRequest("invalid parameter 'items'")
    items = []
    for index, entry in enumerate(raw):
        try:
            if not isinstance(entry, dict):
                raise BadRequest("must be an object")
            value, key = entry.get("value"), entry.get("key")
            if (
                entry.keys() <= _PLAIN
                and isinstance(value, str)
                and isinstance(key, str | None)
                and "\x00" not in value
                and (key is None or "\x00" not in key)
            ):
                items.append(NewItem(value, key))  # the common case, without the options
            else:
                items.append(new_item(Params(entry)))
        except DisqueueError as exc:
            raise BadRequest(f"items[{index}]: {exc.message}") from exc
    return items


async def put(request: web.Request) -> web.Response:
    params = await read_params(request)
    name = params.require("name")
    service = request.app[SERVICE]
    if params.has("items"):
        return ok({"ids": await service.put_many(name, _batch(params.raw("items")))})
    return ok({"id": await service.put(name, new_item(params))})


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
    params = await read_params(request)
    await request.app[SERVICE].ack(params.require("name"), params.require("id"))
    return ok(None)


async def release(request: web.Request) -> web.Response:
    params = await read_params(request)
    delay = params.number("delay") or 0.0
    await request.app[SERVICE].release(params.require("name"), params.require("id"), delay)
    return ok(None)


async def touch(request: web.Request) -> web.Response:
    params = await read_params(request)
    name, item_id = params.require("name"), params.require("id")
    lease = params.number("lease")
    if lease is None:
        raise BadRequest("missing parameter 'lease'")
    return ok({"lease_expires": await request.app[SERVICE].touch(name, item_id, lease)})
