"""Typed application state shared by the handlers of one listener."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from disqueue.auth import BasicAuth
from disqueue.config import Limits
from disqueue.core import QueueService
from disqueue.server.metrics import Metrics

if TYPE_CHECKING:
    from disqueue.server.websocket import WebSocketConsumer

SERVICE = web.AppKey("service", QueueService)
AUTH: web.AppKey[BasicAuth | None] = web.AppKey("auth")
CONNECTIONS: web.AppKey[set[WebSocketConsumer]] = web.AppKey("connections")
METRICS = web.AppKey("metrics", Metrics)
LIMITS = web.AppKey("limits", Limits)
