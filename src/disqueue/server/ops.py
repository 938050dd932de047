"""The operations endpoints (API.md, "Server additions"): health, metrics, stats, the
OpenAPI description and the dashboard. Like every edge, they only ask the core."""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from importlib import resources

import orjson
from aiohttp import web

from disqueue import __version__
from disqueue.auth.permissions import ACCESS, READ, Access
from disqueue.core.stats import Stats
from disqueue.errors import StorageFailure, StorageUnavailable
from disqueue.server.envelope import failure_body, ok
from disqueue.server.openapi import describe
from disqueue.server.state import METRICS, SERVICE

log = logging.getLogger("disqueue.server")

_PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
_ASSET_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


async def health(request: web.Request) -> web.Response:
    """200 with the storage ready, 503 (same payload shape) when it is not."""
    service = request.app[SERVICE]
    kind = service.storage.kind
    try:
        await service.check()
    except (StorageUnavailable, StorageFailure) as exc:
        log.warning("health: storage %s not ready: %s", kind, exc.message)
        payload = {"status": "unavailable", "version": __version__,
                   "storage": {"kind": kind, "ready": False}}  # fmt: skip
        body = failure_body(exc.message, payload)
        return web.Response(status=503, body=body, content_type="application/json")
    return ok({"status": "ok", "version": __version__, "storage": {"kind": kind, "ready": True}})


async def _stats(request: web.Request) -> Stats:
    """The core's snapshot, with only the queues the user may read (under
    `permissions`; every queue without them)."""
    stats = await request.app[SERVICE].stats()
    access: Access | None = request.get(ACCESS)
    if access is None:
        return stats
    return replace(stats, queues=[q for q in stats.queues if access.allows(READ, q.name)])


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format (version 0.0.4), read from the core now."""
    body = request.app[METRICS].render(await _stats(request))
    return web.Response(body=body, headers={"Content-Type": _PROMETHEUS})


async def stats(request: web.Request) -> web.Response:
    """Every queue's counts and totals: what the dashboard (and `disqueuectl watch`)
    poll."""
    return ok((await _stats(request)).to_wire())


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=_openapi_body(), content_type="application/json")


@functools.cache
def _openapi_body() -> bytes:
    return orjson.dumps(describe(__version__))


async def dashboard(request: web.Request) -> web.Response:
    return _asset("index.html")


async def asset(request: web.Request) -> web.Response:
    return _asset(request.path.rsplit("/", 1)[1])


def _asset(name: str) -> web.Response:
    body = _read_asset(name)
    content_type = _ASSET_TYPES[name[name.rindex(".") :]]
    return web.Response(
        body=body, content_type=content_type, charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )  # fmt: skip


@functools.cache
def _read_asset(name: str) -> bytes:
    """A dashboard file, from the package data (no network at run time)."""
    return resources.files("disqueue.server").joinpath("ui", name).read_bytes()
