"""The PostgreSQL the tests use: the machine's own (CI's `.ci/run` makes sure it runs).

Each test or server gets a fresh schema of its own, dropped afterwards, so tests never
see each other's queues. An unreachable database fails the tests that need it, with
a message saying what to do; it never skips them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import asyncpg
import pytest

DSN = os.environ.get("DISQUEUE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def _execute(statement: str) -> None:
    try:
        connection = await asyncpg.connect(DSN, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL at {DSN} is not reachable ({exc}): run scripts/ensure-postgres "
            "or point DISQUEUE_TEST_POSTGRES at a database"
        )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def execute(statement: str) -> None:
    """Run one statement on the test database (in a thread of its own, so that it works
    from inside an event loop too)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _execute(statement)).result()


@contextmanager
def fresh_schema() -> Iterator[str]:
    """The name of a schema nobody uses (the server creates it), dropped afterwards."""
    name = f"t_{secrets.token_hex(6)}"
    execute("SELECT 1")  # fails the test now if there is no database
    try:
        yield name
    finally:
        execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def storage(schema: str) -> dict[str, str]:
    """The `storage` part of a server configuration on the test database."""
    return {"type": "postgres", "dsn": DSN, "schema": schema}
