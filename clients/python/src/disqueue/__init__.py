"""Disqueue: a simple distributed queue service.

`import disqueue` stays light (the server imports it too); the client names of the
original Python client load on first use::

    from disqueue import Disqueue, queue_create, queue_list, QueueException
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from disqueue.client import Disqueue, QueueClient, QueueException, queue_create, queue_list

#: The original client's names, served from disqueue.client when first asked for.
_CLIENT_NAMES = frozenset(
    {"Disqueue", "QueueClient", "QueueException", "queue_create", "queue_list"}
)

__all__ = ["Disqueue", "QueueClient", "QueueException", "__version__", "queue_create", "queue_list"]


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from disqueue import client

        return getattr(client, name)
    raise AttributeError(f"module 'disqueue' has no attribute {name!r}")
