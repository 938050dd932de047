"""The Python client of Disqueue.

- `Client` (sync) and `AsyncClient` (asyncio): one method per API action, typed
  results (`Item`, `QueueInfo`), errors under one base (`ClientError`).
- `consume()` on either: a worker's stream of items over the WebSocket, with leases,
  prefetch, reconnect and a graceful stop.
- The original client's names: `Disqueue`, `QueueClient`, `queue_create`,
  `queue_list`, `QueueException` (also importable from `disqueue` itself).

Names load on first use, so a program (or `disqueuectl`) that needs only the sync
client does not import aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from disqueue.client.aio import AsyncClient
    from disqueue.client.compat import Disqueue, QueueClient, queue_create, queue_list
    from disqueue.client.consumer import AsyncConsumer
    from disqueue.client.errors import (
        AuthError,
        BadRequest,
        ClientError,
        ConnectionFailed,
        NoItem,
        NoSuchLease,
        NotFound,
        PermissionDenied,
        QueueException,
        QueueExists,
        QueueFull,
        QueueNotFound,
        ServerError,
        TooLarge,
        TooMany,
    )
    from disqueue.client.messages import Message
    from disqueue.client.models import Item, QueueInfo, Settled
    from disqueue.client.options import Options
    from disqueue.client.sync import Client
    from disqueue.client.sync_consumer import Consumer, SyncMessage

#: Where each public name lives.
_MODULES = {
    "AsyncClient": "aio",
    "AsyncConsumer": "consumer",
    "Message": "messages",
    "Client": "sync",
    "Consumer": "sync_consumer",
    "SyncMessage": "sync_consumer",
    "Item": "models",
    "QueueInfo": "models",
    "Settled": "models",
    "Options": "options",
    "Disqueue": "compat",
    "QueueClient": "compat",
    "queue_create": "compat",
    "queue_list": "compat",
} | dict.fromkeys(
    [
        "AuthError", "BadRequest", "ClientError", "ConnectionFailed", "NoItem", "NoSuchLease",
        "NotFound", "PermissionDenied", "QueueException", "QueueExists", "QueueFull",
        "QueueNotFound", "ServerError", "TooLarge", "TooMany",
    ],
    "errors",
)  # fmt: skip

__all__ = [
    "AsyncClient",
    "AsyncConsumer",
    "AuthError",
    "BadRequest",
    "Client",
    "ClientError",
    "ConnectionFailed",
    "Consumer",
    "Disqueue",
    "Item",
    "Message",
    "NoItem",
    "NoSuchLease",
    "NotFound",
    "Options",
    "PermissionDenied",
    "QueueClient",
    "QueueException",
    "QueueExists",
    "QueueFull",
    "QueueInfo",
    "QueueNotFound",
    "ServerError",
    "Settled",
    "SyncMessage",
    "TooLarge",
    "TooMany",
    "queue_create",
    "queue_list",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'disqueue.client' has no attribute {name!r}")
    return getattr(importlib.import_module(f"disqueue.client.{module}"), name)
