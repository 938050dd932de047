"""One aiohttp application per listener; all of them share one `QueueService`."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from disqueue.auth import BasicAuth
from disqueue.core import QueueService
from disqueue.errors import DisqueueError, MethodNotAllowed, NotFound
from disqueue.server import http, ops, websocket
from disqueue.server.envelope import error, from_http_exception
from disqueue.server.metrics import Metrics, Observe
from disqueue.server.state import AUTH, CONNECTIONS, MAX_MESSAGE, METRICS, SERVICE

log = logging.getLogger("disqueue.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Every route: path → method → handler. Other methods on these paths are 405s.
ROUTES: dict[str, dict[str, Handler]] = {
    "/queues": {"GET": http.queues, "POST": http.create_queue},
    "/queue": {"POST": http.info, "DELETE": http.delete_queue},
    "/put": {"POST": http.put},
    "/take": {"POST": http.take},
    "/peek": {"POST": http.peek},
    "/ack": {"POST": http.ack},
    "/release": {"POST": http.release},
    "/touch": {"POST": http.touch},
    "/purge": {"POST": http.purge},
    "/take/ws": {"GET": websocket.take_ws},
    "/health": {"GET": ops.health},
    "/metrics": {"GET": ops.metrics},
    "/stats": {"GET": ops.stats},
    "/openapi.json": {"GET": ops.openapi},
    "/": {"GET": ops.dashboard},
    "/ui": {"GET": ops.dashboard},
    "/ui/dashboard.js": {"GET": ops.asset},
    "/ui/dashboard.css": {"GET": ops.asset},
}

#: Paths answered without credentials even on a listener that requires them.
OPEN_PATHS = frozenset({"/health"})


def _guarded(handler: Handler, auth: BasicAuth | None, observe: Observe) -> Handler:
    """Wrap a handler: check credentials, turn every error into the JSON envelope, and
    time the answer for `/metrics` (here rather than in a middleware: the route is known
    when the wrapper is built, so a request pays one histogram observation)."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            if auth is not None and request.path not in OPEN_PATHS:
                auth.check(request.headers.get("Authorization"))
            response = await handler(request)
        except DisqueueError as exc:
            response = _failure(request, exc, auth)
        except web.HTTPException as exc:
            response = error(from_http_exception(exc))
        except Exception as exc:  # a fault of ours: say what failed, never a stack trace
            log.exception("request %s %s failed", request.method, request.path)
            response = error(DisqueueError(f"internal error: {type(exc).__name__}"))
        observe(response.status, time.perf_counter() - started)
        return response

    return guarded


def _failure(request: web.Request, exc: DisqueueError, auth: BasicAuth | None) -> web.Response:
    headers = None
    if exc.status in (401, 403) and auth is not None:
        _log_auth_failure(request, exc)
        if exc.status == 401:
            headers = {"WWW-Authenticate": auth.challenge}
    return error(exc, headers)


def _log_auth_failure(request: web.Request, exc: DisqueueError) -> None:
    # A missing header is the first step of every browser's Basic login: note it only.
    level = logging.INFO if exc.status == 401 else logging.WARNING
    log.log(level, "authentication failed: %s (%s %s from %s)", exc.message, request.method,
            request.path, request.remote)  # fmt: skip


async def _not_found(request: web.Request) -> web.StreamResponse:
    raise NotFound()


async def _not_allowed(request: web.Request) -> web.StreamResponse:
    raise MethodNotAllowed()


def build_app(
    service: QueueService,
    auth: BasicAuth | None,
    max_body_bytes: int,
    metrics: Metrics | None = None,
) -> web.Application:
    """The application of one listener: its routes, its auth, its open WebSockets.
    Listeners of one process share `metrics` (a new one if not given)."""
    metrics = metrics or Metrics()
    app = web.Application(client_max_size=max_body_bytes)
    app[SERVICE] = service
    app[AUTH] = auth
    app[CONNECTIONS] = set()
    app[MAX_MESSAGE] = max_body_bytes
    app[METRICS] = metrics
    metrics.connections.append(app[CONNECTIONS])
    for path, methods in ROUTES.items():
        for method, handler in methods.items():
            app.router.add_route(
                method, path, _guarded(handler, auth, metrics.observer(path, method))
            )
            if method == "GET" and path != "/take/ws":
                head = _guarded(handler, auth, metrics.observer(path, "HEAD"))
                app.router.add_route("HEAD", path, head)
        other = _guarded(_not_allowed, auth, metrics.observer(path, "other"))
        app.router.add_route("*", path, other)
    unknown = _guarded(_not_found, auth, metrics.observer("unknown", "other"))
    app.router.add_route("*", "/{tail:.*}", unknown)
    app.on_shutdown.append(websocket.close_all)
    return app
