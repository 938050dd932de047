"""Every storage backend, for the conformance suite (one suite, every backend)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from disqueue.config import StorageConfig
from disqueue.storage import Storage, open_storage
from tests import pg

BACKENDS = ["memory", "sqlite", "postgres"]


@contextmanager
def storage_config(kind: str, folder: Path) -> Iterator[StorageConfig]:
    """The configuration of a fresh, empty backend of `kind`."""
    if kind == "sqlite":
        yield StorageConfig(type="sqlite", path=folder / "data" / "disqueue.db")
    elif kind == "postgres":
        with pg.fresh_schema() as schema:
            yield StorageConfig(type="postgres", dsn=pg.DSN, schema=schema)
    else:
        yield StorageConfig(type="memory")


@pytest.fixture(params=BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """An open, empty backend of each kind."""
    with storage_config(request.param, tmp_path) as config:
        backend = open_storage(config)
        await backend.open()
        yield backend
        await backend.close()
