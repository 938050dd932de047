"""PostgreSQL helpers of the multi-node tests beyond tests/pg.py: plain SQL on any
database, and a private throw-away PostgreSQL server for tests that stop the database
(never the machine's shared one), alone or as a primary with a streaming standby."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ..e2e.helpers import free_port
from ..pg import DSN

CONNECT_TIMEOUT = 5.0


def run_sql(dsn: str, *statements: str) -> list[list[Any]]:
    """Run each statement on one fresh connection; the rows of each (as lists).

    Runs on a private event loop in a worker thread, so it works from sync tests,
    async tests and fixtures alike.
    """

    async def run() -> list[list[Any]]:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT)
        try:
            return [[list(row) for row in await conn.fetch(sql)] for sql in statements]
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def schema_exists(schema: str, dsn: str = DSN) -> bool:
    """Whether the schema is in the database."""
    sql = f"SELECT 1 FROM information_schema.schemata WHERE schema_name = '{schema}'"
    return bool(run_sql(dsn, sql)[0])


def node_storage(dsn: str, schema: str = "disqueue", pool: int = 4) -> dict[str, Any]:
    """The `storage` part of a node's config on any database."""
    return {"type": "postgres", "dsn": dsn, "schema": schema, "pool": pool}


# --------------------------------------------------------------------------- a private server


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        pytest.fail(
            "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin "
            "(scripts/ensure-postgres installs them)",
            pytrace=False,
        )
    return found[-1].parent


class PrivatePostgres:
    """A throw-away PostgreSQL server of our own (initdb + pg_ctl), on a free port on
    127.0.0.1, trust auth: for tests that stop and start the database, which they must
    never do to the machine's shared one. Run as the `postgres` user when we are root
    (PostgreSQL refuses to run as root)."""

    def __init__(self, **settings: str) -> None:
        self.bin = _postgres_bin()
        # Not under pytest's tmp_path: the `postgres` user cannot enter root's folders.
        self.directory = Path(tempfile.mkdtemp(prefix="disqueue-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.port = free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.directory),
            "fsync": "off",  # a crash of the server, not of the machine, loses nothing
            "max_connections": "60",
            **settings,
        }

    def _run(self, *args: str, timeout: float = 60.0) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} exited {result.returncode}\n"
                f"{result.stdout}\n{result.stderr}\n{self.server_log()}"
            )

    def server_log(self) -> str:
        """The server's log so far (for failure messages)."""
        if not self.log.exists():
            return ""
        return "--- postgres.log ---\n" + self.log.read_text(errors="replace")[-4000:]

    def _own(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")

    def init(self) -> None:
        """Create the data directory (trust auth for everyone: it is ours alone)."""
        self._own()
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip

    def init_standby(self, primary: PrivatePostgres) -> None:
        """Make the data directory a streaming-replication standby of `primary`
        (pg_basebackup -R); it connects as application `walreceiver`."""
        self._own()
        self._run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-D", str(self.data), "-R", "-X", "stream", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        # pg_ctl hands -o to a shell: every value here is free of shell characters.
        options = f"-p {self.port} " + " ".join(f"-c {k}={v}" for k, v in self.settings.items())
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "30", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `immediate` (a crash: no checkpoint, connections cut) or
        `fast` (a clean shutdown that ends every session)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def promote(self) -> None:
        """Promote this standby to a primary (a failover) and wait until it takes writes."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "promote")

    def destroy(self) -> None:
        """Stop it if it runs and remove its files."""
        with contextlib.suppress(AssertionError):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)
