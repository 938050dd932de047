"""Disqueue: a simple distributed queue service.

`import disqueue` stays light (the server imports it too); the client names of the
original Python client load on first use::

    from disqueue import Disqueue, queue_create, queue_list, QueueException
"""

from __future__ import annotations

import pkgutil
from typing import TYPE_CHECKING, Any

# This package comes from two distributions: `disqueue` (the client: this file and
# disqueue.client) and `disqueue-server` (server, storage, core, auth, cli, ...). Installed
# as wheels they share one folder; installed editable (make) each has its own source
# tree, and this line makes the package span both.
__path__ = pkgutil.extend_path(__path__, __name__)

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
