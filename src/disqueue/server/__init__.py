"""The HTTP and WebSocket edge: thin handlers over `disqueue.core.QueueService`."""

from disqueue.server.app import build_app
from disqueue.server.runner import serve

__all__ = ["build_app", "serve"]
