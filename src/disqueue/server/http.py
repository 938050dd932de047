"""The HTTP handlers of API.md: each reads parameters, calls the service, answers."""

from __future__ import annotations

from aiohttp import web

from disqueue import __version__
from disqueue.server.envelope import ok
from disqueue.server.params import read_params
from disqueue.server.state import SERVICE


async def queues(request: web.Request) -> web.Response:
    return ok(await request.app[SERVICE].queues())


async def create_queue(request: web.Request) -> web.Response:
    params = await read_params(request)
    return ok(await request.app[SERVICE].create_queue(params.get("name")))


async def info(request: web.Request) -> web.Response:
    params = await read_params(request)
    return ok(await request.app[SERVICE].info(params.require("name")))


async def delete_queue(request: web.Request) -> web.Response:
    params = await read_params(request)
    await request.app[SERVICE].delete_queue(params.require("name"))
    return ok(None)


async def put(request: web.Request) -> web.Response:
    params = await read_params(request)
    name = params.require("name")
    item = await request.app[SERVICE].put(name, params.require("value"), params.get("key"))
    return ok({"id": item.id})


async def take(request: web.Request) -> web.Response:
    params = await read_params(request)
    item = await request.app[SERVICE].take(params.require("name"), params.get("key"))
    return ok(item.to_wire())


async def peek(request: web.Request) -> web.Response:
    params = await read_params(request)
    item = await request.app[SERVICE].peek(params.require("name"), params.get("key"))
    return ok(item.to_wire())


async def health(request: web.Request) -> web.Response:
    storage = request.app[SERVICE].storage
    return ok({"status": "ok", "version": __version__, "storage": storage.kind})
