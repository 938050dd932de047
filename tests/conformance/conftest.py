"""Every storage backend, for the conformance suite (one suite, every backend)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from disqueue.config import StorageConfig
from disqueue.storage import Storage, open_storage

BACKENDS = ["memory"]


@pytest.fixture(params=BACKENDS)
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    """An open, empty backend of each kind."""
    backend = open_storage(StorageConfig(type=request.param))
    await backend.open()
    yield backend
    await backend.close()
