"""Every storage backend, for the conformance suite (one suite, every backend)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from disqueue.config import StorageConfig
from disqueue.storage import Storage, open_storage

BACKENDS = ["memory", "sqlite"]


def storage_config(kind: str, folder: Path) -> StorageConfig:
    if kind == "sqlite":
        return StorageConfig(type="sqlite", path=folder / "data" / "disqueue.db")
    return StorageConfig(type="memory")


@pytest.fixture(params=BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """An open, empty backend of each kind."""
    backend = open_storage(storage_config(request.param, tmp_path))
    await backend.open()
    yield backend
    await backend.close()
