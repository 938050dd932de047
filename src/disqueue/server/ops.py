"""The operations endpoints (API.md, "Server additions"): health, metrics, stats, the
OpenAPI description and the dashboard. Like every edge, they only ask the core."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from dataclasses import asdict, replace
from importlib import resources

import orjson
from aiohttp import web

from disqueue import __version__
from disqueue.auth.permissions import ACCESS, READ, Access
from disqueue.core.history import FIELDS
from disqueue.core.stats import Stats
from disqueue.errors import BadRequest, StorageFailure, StorageUnavailable
from disqueue.server.envelope import failure_body, ok
from disqueue.server.openapi import describe
from disqueue.server.params import Params, read_params
from disqueue.server.state import METRICS, SERVICE

log = logging.getLogger("disqueue.server")

_PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
_ASSET_TYPES = {
    ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
}  # fmt: skip


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
    """Prometheus text format (version 0.0.4), read from the core now. Storage that is
    not ready is `disqueue_storage_ready 0` (and no queue series if it cannot say),
    still a 200: the alert is Prometheus' to raise."""
    service = request.app[SERVICE]
    try:
        await service.check()
        stats, ready = await _stats(request), True
    except (StorageUnavailable, StorageFailure) as exc:
        log.warning("metrics: storage %s not ready: %s", service.storage.kind, exc.message)
        stats, ready = Stats(time.time(), service.storage.kind, [], None), False
    body = request.app[METRICS].render(stats, ready=ready)
    return web.Response(body=body, headers={"Content-Type": _PROMETHEUS})


async def stats(request: web.Request) -> web.Response:
    """Every queue's counts and totals: what the dashboard (and `disqueuectl watch`)
    poll. With `history=<seconds>` (API.md, Part 3 additions), also the server's samples
    of that window: of every queue, or of `queue`; every field, or those of `fields`."""
    params = await read_params(request)
    snapshot = await _stats(request)
    payload = snapshot.to_wire()
    nodes = await request.app[SERVICE].nodes()
    if nodes is not None:  # PostgreSQL: every node sharing the schema, this one marked
        payload["nodes"] = [asdict(node) for node in nodes]
    if params.has("history"):
        history = request.app[METRICS].history
        seconds, fields = _window(params, history.span), _fields(params)
        names = [queue.name for queue in snapshot.queues]
        one = params.get("queue")
        if one is not None:
            names = [name for name in names if name == one]
        # Off the event loop: every field of 1,000 queues is millions of values. (The
        # sampler writes meanwhile; each value read is whole, a sample may be half new.)
        payload["history"] = await asyncio.to_thread(history.window, seconds, names, fields)
    return ok(payload)


def _window(params: Params, longest: float) -> float:
    """The `history` window: seconds, more than 0 and at most the longest tier's span."""
    raw = params.get("history") or ""
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= longest:  # NaN too
        raise BadRequest(f"invalid parameter 'history': seconds, at most {longest:g}")
    return seconds


def _fields(params: Params) -> tuple[str, ...]:
    raw = params.get("fields")
    if raw is None:
        return FIELDS
    fields = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not fields or not set(fields) <= set(FIELDS):
        raise BadRequest(f"invalid parameter 'fields': some of {', '.join(FIELDS)}")
    return fields


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=_openapi_body(), content_type="application/json")


@functools.cache
def _openapi_body() -> bytes:
    return orjson.dumps(describe(__version__))


async def dashboard(request: web.Request) -> web.Response:
    return _asset("index.html")


async def asset(request: web.Request) -> web.Response:
    return _asset(request.path.rsplit("/", 1)[1])


async def favicon(request: web.Request) -> web.Response:
    """`/favicon.ico`: the dashboard's icon (an SVG, which browsers take here too)."""
    return _asset("favicon.svg")


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
