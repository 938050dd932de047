"""One aiohttp application per listener; all of them share one `QueueService`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from disqueue.auth import BasicAuth
from disqueue.core import QueueService
from disqueue.errors import DisqueueError, MethodNotAllowed, NotFound
from disqueue.server import http, websocket
from disqueue.server.envelope import error, from_http_exception
from disqueue.server.state import AUTH, CONNECTIONS, MAX_MESSAGE, SERVICE

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
    "/health": {"GET": http.health},
}

#: Paths answered without credentials even on a listener that requires them.
OPEN_PATHS = frozenset({"/health"})


def _guarded(handler: Handler, auth: BasicAuth | None) -> Handler:
    """Wrap a handler: check credentials, and turn every error into the JSON envelope."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            if auth is not None and request.path not in OPEN_PATHS:
                auth.check(request.headers.get("Authorization"))
            return await handler(request)
        except DisqueueError as exc:
            headers = {"WWW-Authenticate": auth.challenge} if exc.status == 401 and auth else None
            return error(exc, headers)
        except web.HTTPException as exc:
            return error(from_http_exception(exc))
        except Exception as exc:  # a fault of ours: say what failed, never a stack trace
            log.exception("request %s %s failed", request.method, request.path)
            return error(DisqueueError(f"internal error: {type(exc).__name__}"))

    return guarded


async def _not_found(request: web.Request) -> web.StreamResponse:
    raise NotFound()


async def _not_allowed(request: web.Request) -> web.StreamResponse:
    raise MethodNotAllowed()


def build_app(
    service: QueueService, auth: BasicAuth | None, max_body_bytes: int
) -> web.Application:
    """The application of one listener: its routes, its auth, its open WebSockets."""
    app = web.Application(client_max_size=max_body_bytes)
    app[SERVICE] = service
    app[AUTH] = auth
    app[CONNECTIONS] = set()
    app[MAX_MESSAGE] = max_body_bytes
    for path, methods in ROUTES.items():
        for method, handler in methods.items():
            app.router.add_route(method, path, _guarded(handler, auth))
            if method == "GET" and path != "/take/ws":
                app.router.add_route("HEAD", path, _guarded(handler, auth))
        app.router.add_route("*", path, _guarded(_not_allowed, auth))
    app.router.add_route("*", "/{tail:.*}", _guarded(_not_found, auth))
    app.on_shutdown.append(websocket.close_all)
    return app
