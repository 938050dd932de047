"""Typed application state shared by the handlers of one listener."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from disqueue.auth import BasicAuth
from disqueue.config import Limits
from disqueue.core import QueueService
from disqueue.server.metrics import Metrics


class Connection(Protocol):
    """An open WebSocket of the listener, as shutdown sees it (the handlers' module
    implements it; this one imports none of them)."""

    async def shut(self) -> None:
        """Close it for a server shutdown."""
        ...


SERVICE = web.AppKey("service", QueueService)
AUTH: web.AppKey[BasicAuth | None] = web.AppKey("auth")
CONNECTIONS: web.AppKey[set[Connection]] = web.AppKey("connections")
METRICS = web.AppKey("metrics", Metrics)
LIMITS = web.AppKey("limits", Limits)
