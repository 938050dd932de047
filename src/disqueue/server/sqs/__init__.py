"""Amazon SQS on every listener (API.md Part 3, "Amazon SQS compatibility").

A thin edge like the others: `protocol` reads either wire protocol into one shape and
writes the answer back in the request's, `sigv4` checks signatures on a listener with
authentication, `actions` and `message_actions` do each action through `QueueService`,
`errors` holds AWS's error shapes. Requests come to `POST /` and to `POST
/<account>/<QueueName>` (a queue URL); everything else on the listener is as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiohttp import web

from disqueue.auth.permissions import Access
from disqueue.config import SqsConfig
from disqueue.errors import DisqueueError
from disqueue.server.metrics import Metrics
from disqueue.server.sqs import protocol
from disqueue.server.sqs.actions import ACTIONS
from disqueue.server.sqs.context import Context, FirstReceipts, Sequencer
from disqueue.server.sqs.errors import SqsError, of_core
from disqueue.server.sqs.sigv4 import AccessKeys, verify
from disqueue.server.state import AUTH, LIMITS, SERVICE

log = logging.getLogger("disqueue.sqs")

#: A queue URL's path: the account (12 digits), then the queue's name.
QUEUE_PATH = r"/{account:[0-9]{12}}/{queue}"


class Endpoint:
    """The SQS endpoint of a process: its settings, access keys and FIFO sequence."""

    def __init__(self, config: SqsConfig) -> None:
        self.config = config
        self.keys = AccessKeys(config.access_keys) if config.access_keys is not None else None
        self.sequencer = Sequencer()
        self.first_receipts = FirstReceipts()

    def install(self, app: web.Application, metrics: Metrics) -> None:
        """Add the SQS routes to a listener's application (before its own routes, so
        that `POST /` is SQS's)."""
        app[SQS] = self
        observe = metrics.observer("sqs", "POST")

        async def observed(request: web.Request) -> web.StreamResponse:
            started = time.perf_counter()
            response = await handle(request)
            observe(response.status, time.perf_counter() - started)
            return response

        app.router.add_route("POST", "/", observed)
        app.router.add_route("POST", QUEUE_PATH, observed)


SQS = web.AppKey("sqs", Endpoint)


async def handle(request: web.Request) -> web.Response:
    """One SQS request, answered in its own protocol, errors included."""
    query = not protocol.is_json(request.headers)
    request_id = ""
    try:
        body = await _body(request)
        sqs_request = protocol.decode(request.headers, request.rel_url.raw_query_string, body)
        request_id = sqs_request.request_id
        access = await _authenticate(request, body)
        run = ACTIONS.get(sqs_request.action)
        if run is None:
            raise SqsError("UnsupportedOperation", f"{sqs_request.action} is not supported.")
        endpoint = request.app[SQS]
        context = Context(
            request.app[SERVICE],
            endpoint.config,
            endpoint.sequencer,
            endpoint.first_receipts,
            f"{request.scheme}://{request.host}",
            access,
            request.match_info.get("queue"),
            _hung_up(request),
        )
        result = await run(context, sqs_request.params)
        answer, kind = protocol.encode(sqs_request, result)
        return web.Response(
            body=answer, content_type=kind, headers={"x-amzn-RequestId": request_id}
        )
    except SqsError as exc:
        return _error(query, exc, request_id)
    except DisqueueError as exc:
        return _error(query, of_core(exc), request_id)
    except web.HTTPRequestEntityTooLarge:
        return _error(
            query, SqsError("RequestEntityTooLarge", "The request is too large."), request_id
        )
    except Exception as exc:  # a fault of ours: say what failed, never a stack trace
        log.exception("SQS request failed")
        return _error(
            query, SqsError("InternalFailure", f"internal error: {type(exc).__name__}"), request_id
        )


async def _body(request: web.Request) -> bytes:
    try:
        async with asyncio.timeout(request.app[LIMITS].body_timeout):
            return await request.read()
    except TimeoutError:
        raise SqsError("RequestTimeout", "The request body took too long to arrive.") from None


def _error(query: bool, exc: SqsError, request_id: str) -> web.Response:
    request_id = request_id or "00000000-0000-0000-0000-000000000000"
    body, kind = protocol.encode_error(query, exc, request_id)
    return web.Response(
        status=exc.status,
        body=body,
        content_type=kind,
        headers=protocol.error_headers(exc, request_id),
    )


async def _authenticate(request: web.Request, body: bytes) -> Access | None:
    """What the signer may do (None: everything). Without authentication on the listener
    any signature is accepted; with it, the request must be signed with a known key.
    Failures count against the address, as failed Basic logins do."""
    auth = request.app[AUTH]
    if auth is None:
        return None
    keys = request.app[SQS].keys
    assert keys is not None  # the configuration requires them here
    if auth.throttle is not None:
        auth.throttle.check(request.remote)
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        user = verify(
            keys,
            request.method,
            request.raw_path.split("?", 1)[0],
            request.rel_url.raw_query_string,
            headers,
            body,
        )
    except SqsError as exc:
        if auth.throttle is not None:
            auth.throttle.failed(request.remote)
        log.warning("SQS authentication failed: %s (from %s)", exc.shape, request.remote)
        raise
    return None if auth.permissions is None else auth.permissions.of(user)


def _hung_up(request: web.Request) -> Callable[[], bool]:
    transport = request.transport
    return lambda: transport is None or transport.is_closing()


__all__ = ["SQS", "Endpoint"]
