"""One aiohttp application per listener; all of them share one `QueueService`."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from disqueue.auth import BasicAuth
from disqueue.auth.permissions import ACCESS, MANAGE, READ, WRITE, Need
from disqueue.config import Limits
from disqueue.core import QueueService
from disqueue.errors import DisqueueError, MethodNotAllowed, NotFound
from disqueue.server import http, ops, websocket
from disqueue.server.actions import ACTIONS
from disqueue.server.envelope import error, from_http_exception
from disqueue.server.metrics import Metrics, Observe
from disqueue.server.params import read_params
from disqueue.server.sqs import Endpoint
from disqueue.server.state import AUTH, CONNECTIONS, LIMITS, METRICS, SERVICE

log = logging.getLogger("disqueue.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Every route: path → method → handler. Other methods on these paths are 405s.
ROUTES: dict[str, dict[str, Handler]] = {
    "/queues": {"GET": http.queues, "POST": http.create_queue},
    "/queue": {"POST": http.info, "DELETE": http.delete_queue},
    "/queue/settings": {"POST": http.change_settings},
    "/put": {"POST": http.put},
    "/take": {"POST": http.take},
    "/peek": {"POST": http.peek},
    "/ack": {"POST": http.ack},
    "/release": {"POST": http.release},
    "/touch": {"POST": http.touch},
    "/purge": {"POST": http.purge},
    "/redrive": {"POST": http.redrive},
    "/pause": {"POST": http.pause},
    "/resume": {"POST": http.resume},
    "/take/ws": {"GET": websocket.take_ws},
    "/health": {"GET": ops.health},
    "/metrics": {"GET": ops.metrics},
    "/stats": {"GET": ops.stats},
    "/openapi.json": {"GET": ops.openapi},
    "/": {"GET": ops.dashboard},
    "/ui": {"GET": ops.dashboard},
    "/ui/dashboard.js": {"GET": ops.asset},
    "/ui/dashboard.css": {"GET": ops.asset},
    "/ui/favicon.svg": {"GET": ops.asset},
    "/favicon.ico": {"GET": ops.favicon},
}

#: The rights each route needs under `permissions` (auth/permissions.py), on the queue
#: its parameter names. Unlisted routes need only valid credentials; `GET /queues`
#: lists only the queues the user may read, and `/take/ws` checks each op.
RIGHTS: dict[tuple[str, str], tuple[Need, ...]] = {
    ("POST", "/queues"): (Need(MANAGE), Need(WRITE, "dead_letter", optional=True)),
    ("POST", "/queue"): (Need(READ),),
    ("DELETE", "/queue"): (Need(MANAGE),),
    ("POST", "/queue/settings"): (Need(MANAGE), Need(WRITE, "dead_letter", optional=True)),
    ("POST", "/put"): ACTIONS["put"].needs,
    ("POST", "/take"): (Need(READ),),
    ("POST", "/peek"): (Need(READ),),
    ("POST", "/ack"): ACTIONS["ack"].needs,
    ("POST", "/release"): ACTIONS["release"].needs,
    ("POST", "/touch"): ACTIONS["touch"].needs,
    ("POST", "/purge"): (Need(MANAGE),),
    ("POST", "/redrive"): (Need(MANAGE), Need(WRITE, "to", optional=True)),
    ("POST", "/pause"): (Need(MANAGE),),
    ("POST", "/resume"): (Need(MANAGE),),
}

#: Paths answered without credentials even on a listener that requires them.
OPEN_PATHS = frozenset({"/health"})


def _guarded(
    handler: Handler, auth: BasicAuth | None, observe: Observe, needs: tuple[Need, ...] = ()
) -> Handler:
    """Wrap a handler: check credentials and rights, turn every error into the JSON
    envelope, and time the answer for `/metrics` (here rather than in a middleware: the
    route is known when the wrapper is built, so a request pays one histogram
    observation)."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            if auth is not None and request.path not in OPEN_PATHS:
                header = request.headers.get("Authorization")
                access = await auth.authenticate(header, request.remote)
                if access is not None:
                    request[ACCESS] = access
                    if needs:
                        access.check(needs, (await read_params(request)).get)
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
    return error(exc, headers or exc.headers)


def _log_auth_failure(request: web.Request, exc: DisqueueError) -> None:
    # A missing header is the first step of every browser's Basic login: note it only.
    level = logging.INFO if exc.status == 401 else logging.WARNING
    log.log(level, "authentication failed: %s (%s %s from %s)", exc.message, request.method,
            request.path, request.remote)  # fmt: skip


async def _not_found(request: web.Request) -> web.StreamResponse:
    raise NotFound()


async def _not_allowed(request: web.Request) -> web.StreamResponse:
    refusal = MethodNotAllowed()
    methods = ROUTES.get(request.path, {})
    allowed = [*methods, *(["HEAD"] if "GET" in methods and request.path != "/take/ws" else [])]
    refusal.headers = {"Allow": ", ".join(allowed)}
    raise refusal


def build_app(
    service: QueueService,
    auth: BasicAuth | None,
    limits: Limits,
    metrics: Metrics | None = None,
    sqs: Endpoint | None = None,
) -> web.Application:
    """The application of one listener: its routes, its auth, its open WebSockets, and
    with `sqs` the Amazon SQS protocols. Listeners of one process share `metrics` (a new
    one if not given) and `sqs`."""
    metrics = metrics or Metrics()
    app = web.Application(client_max_size=limits.max_body_bytes)
    app[SERVICE] = service
    app[AUTH] = auth
    app[CONNECTIONS] = set()
    app[LIMITS] = limits
    app[METRICS] = metrics
    metrics.connections.append(app[CONNECTIONS])
    if sqs is not None:
        sqs.install(app, metrics)
    for path, methods in ROUTES.items():
        for method, handler in methods.items():
            needs = RIGHTS.get((method, path), ())
            observe = metrics.observer(path, method)
            app.router.add_route(method, path, _guarded(handler, auth, observe, needs))
            if method == "GET" and path != "/take/ws":
                head = _guarded(handler, auth, metrics.observer(path, "HEAD"), needs)
                app.router.add_route("HEAD", path, head)
        other = _guarded(_not_allowed, auth, metrics.observer(path, "other"))
        app.router.add_route("*", path, other)
    unknown = _guarded(_not_found, auth, metrics.observer("unknown", "other"))
    app.router.add_route("*", "/{tail:.*}", unknown)
    app.on_shutdown.append(websocket.close_all)
    return app
