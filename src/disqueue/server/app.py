"""One aiohttp application per listener; all of them share one `QueueService`."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from disqueue.auth import BasicAuth
from disqueue.auth.permissions import ACCESS, MANAGE, READ, WRITE, Access, Need
from disqueue.config import Limits
from disqueue.core import QueueService
from disqueue.errors import DisqueueError, MethodNotAllowed, NotFound
from disqueue.server import http, ops, websocket
from disqueue.server.actions import ACTIONS
from disqueue.server.envelope import error, from_http_exception
from disqueue.server.metrics import Metrics, Observe
from disqueue.server.params import Params, read_params
from disqueue.server.sqs import Endpoint
from disqueue.server.state import AUTH, CONNECTIONS, LIMITS, METRICS, SERVICE

log = logging.getLogger("disqueue.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Every route: path → method → handler. Other methods on these paths are 405s.
ROUTES: dict[str, dict[str, Handler]] = {}
for (_method, _path), _run in http.CALLS.items():
    ROUTES.setdefault(_path, {})[_method] = http.handler(_run)
ROUTES.update({
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
})  # fmt: skip

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


async def admit(
    auth: BasicAuth | None,
    needs: tuple[Need, ...],
    path: str,
    header: str | None,
    remote: str | None,
    params: Callable[[], Awaitable[Params]],
) -> Access | None:
    """Check a request's credentials (`header`: its Authorization) and its rights on
    the queues its parameters name: the user's access, or None on a listener without
    authentication or a path open to all. Raises the 401, 403 or 429 to answer."""
    if auth is None or path in OPEN_PATHS:
        return None
    access = await auth.authenticate(header, remote)
    if access is not None and needs:
        access.check(needs, (await params()).get)
    return access


def refusal(
    exc: DisqueueError, auth: BasicAuth | None, method: str, path: str, remote: str | None
) -> dict[str, str] | None:
    """The headers of the answer to `exc` (the Basic challenge with a 401), after
    logging a failed login."""
    if exc.status in (401, 403) and auth is not None:
        # A missing header is the first step of every browser's Basic login: note it only.
        level = logging.INFO if exc.status == 401 else logging.WARNING
        log.log(level, "authentication failed: %s (%s %s from %s)", exc.message, method,
                path, remote)  # fmt: skip
        if exc.status == 401:
            return {"WWW-Authenticate": auth.challenge}
    return exc.headers


def internal(exc: Exception, method: str, path: str) -> DisqueueError:
    """A fault of ours, logged with its trace: the answer says what failed, no more."""
    log.error("request %s %s failed", method, path, exc_info=exc)
    return DisqueueError(f"internal error: {type(exc).__name__}")


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
            header = request.headers.get("Authorization")
            access = await admit(
                auth, needs, request.path, header, request.remote, lambda: read_params(request)
            )
            if access is not None:
                request[ACCESS] = access
            response = await handler(request)
        except DisqueueError as exc:
            headers = refusal(exc, auth, request.method, request.path, request.remote)
            response = error(exc, headers)
        except web.HTTPException as exc:
            response = error(from_http_exception(exc))
        except Exception as exc:
            response = error(internal(exc, request.method, request.path))
        observe(response.status, time.perf_counter() - started)
        return response

    return guarded


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
