"""Storage backends behind one interface; `open_storage` picks one from the config."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from disqueue.errors import ConfigError
from disqueue.storage.base import Storage

if TYPE_CHECKING:  # (not at run time: the SQLite writer process imports this package)
    from disqueue.config import StorageConfig


def open_storage(config: StorageConfig, clock: Callable[[], float] = time.time) -> Storage:
    """The backend the configuration names (drivers are imported only when chosen),
    deciding by `clock` (a test may pass a fake one)."""
    if config.type == "memory":
        from disqueue.storage.embedded.memory import MemoryStorage

        return MemoryStorage(clock)
    if config.type == "sqlite":
        from disqueue.storage.embedded.sqlite import SQLiteStorage

        return SQLiteStorage(config.path, config.sync, clock)
    if config.type == "postgres":
        from disqueue.storage.postgres.storage import PostgresStorage

        return PostgresStorage(config.dsn, config.schema, config.pool, clock)
    raise ConfigError(f"storage type {config.type!r} is not available")


__all__ = ["Storage", "open_storage"]
