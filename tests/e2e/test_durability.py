"""The SQLite default storage: restarts, kill -9 under load, and bad disks or files."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from .conftest import StartServer
from .helpers import PYTHON, Api, launch
from .ledger import Ledger, Load, findings, run_load

QUEUE = "0d9a4f6e-7c1b-4d2e-9f3a-5b6c7d8e9f00"
SQLITE = {"storage": {"type": "sqlite", "path": "data/disqueue.db"}}


def test_items_survive_a_restart(start_server: StartServer, tmp_path: Path) -> None:
    """Queues and items, keys and order included, are there after a clean restart."""
    server = start_server(SQLITE, directory=tmp_path / "node")
    with Api(server.url) as api:
        api.new_queue(QUEUE)
        for i in range(5):
            api.put(QUEUE, f"v{i}", key="odd" if i % 2 else None)
        assert api.take_item(QUEUE)["value"] == "v0"
    assert server.stop() == 0
    server = start_server(server.config, directory=tmp_path / "node")
    with Api(server.url) as api:
        assert api.queues() == [QUEUE]
        assert api.take_item(QUEUE, key="ODD")["value"] == "v1"
        assert api.drain(QUEUE) == ["v2", "v3", "v4"]


def test_default_storage_is_sqlite_in_data_folder(
    start_server: StartServer, tmp_path: Path
) -> None:
    """A config without `storage` keeps its items in data/disqueue.db beside the file."""
    server = start_server({"storage": None}, directory=tmp_path / "node")
    with Api(server.url) as api:
        api.new_queue(QUEUE)
        api.put(QUEUE, "kept")
        health = api.call("GET", "/health").ok()
    assert health["storage"] == {"kind": "sqlite", "ready": True}
    assert server.stop() == 0
    with sqlite3.connect(tmp_path / "node" / "data" / "disqueue.db") as connection:
        assert connection.execute("SELECT value FROM items").fetchall() == [("kept",)]


async def _kill_after(pid: int, seconds: float) -> None:
    await asyncio.sleep(seconds)
    os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sync", ["full", "normal"])
def test_kill_9_under_load_loses_nothing_acknowledged(
    start_server: StartServer, tmp_path: Path, sync: str
) -> None:
    """kill -9 at several moments of a put/take load, restart, drain: every acknowledged
    put is still queued (in order) or was taken by an acknowledged take; nothing appears
    twice; nothing appears that nobody put."""
    config = {"storage": {"type": "sqlite", "path": "data/disqueue.db", "sync": sync}}
    rng = random.Random(sync)
    for round_ in range(3):
        server = start_server(config, directory=tmp_path / "node")
        with Api(server.url) as api:
            api.new_queue(QUEUE)
            assert api.drain(QUEUE) == []  # the previous round ended empty
        ledger = Ledger()
        kill_after = 0.3 + rng.random() * 1.2
        stop = _kill_after(server.proc.pid, kill_after)
        asyncio.run(run_load(server.url, QUEUE, Load(), ledger, stop))
        server.proc.wait(10)
        assert server.proc.returncode == -signal.SIGKILL

        server = start_server(config, directory=tmp_path / "node")
        with Api(server.url) as api:
            left = api.drain(QUEUE)
        assert server.stop() == 0
        findings(ledger, left).assert_sound(f"round {round_}, killed after {kill_after:.2f} s")


def _start_failure(tmp_path: Path, storage: dict[str, str]) -> str:
    """Start a server that must refuse to start; its one-line error."""
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"servers": [{"hostname": "127.0.0.1", "port": 1}], "storage": storage})
    )
    result = subprocess.run(
        [PYTHON, "-m", "disqueue", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_data_folder_that_cannot_be_written(tmp_path: Path) -> None:
    """A data path under a regular file stops the start with a one-line error."""
    (tmp_path / "blocker").write_text("x")
    error = _start_failure(tmp_path, {"type": "sqlite", "path": "blocker/data/disqueue.db"})
    assert "blocker/data/disqueue.db" in error
    assert "cannot open" in error


def test_newer_schema_refused_at_start(tmp_path: Path) -> None:
    """A database from a newer server is refused with a one-line error and left alone."""
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version=999")
    error = _start_failure(tmp_path, {"type": "sqlite", "path": "new.db"})
    assert "schema version 999 is newer" in error
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (999,)


def test_damaged_file_refused_at_start(tmp_path: Path) -> None:
    """A damaged database file is refused at start with a one-line error."""
    (tmp_path / "bad.db").write_bytes(os.urandom(8192))
    error = _start_failure(tmp_path, {"type": "sqlite", "path": "bad.db"})
    assert "bad.db" in error


@pytest.fixture
def tiny_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 2 MiB tmpfs, to fill up; needs root to mount (CI runs as root)."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):  # CI runs as root: a skip there would hide this test
            pytest.fail("mounting a tmpfs needs root, and CI runs as root")
        pytest.skip("mounting a tmpfs needs root, which this machine did not give")
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_refuses_puts_and_keeps_what_it_had(tiny_disk: Path) -> None:
    """On a full disk puts answer 500 storage failure, nothing acknowledged is damaged, the
    server keeps answering, and puts work again once space is freed."""
    server = launch(tiny_disk / "node", SQLITE)
    try:
        with Api(server.url) as api:
            api.new_queue(QUEUE)
            filler = tiny_disk / "filler"
            free = os.statvfs(tiny_disk).f_bavail * os.statvfs(tiny_disk).f_frsize
            filler.write_bytes(b"\0" * max(0, free - 300_000))
            acked, failure = [], None
            for i in range(2000):
                reply = api.call("POST", "/put", data={"name": QUEUE, "value": f"{i:04d}" * 250})
                if reply.status != 200:
                    failure = reply
                    break
                acked.append(f"{i:04d}" * 250)
            assert failure is not None, "the disk never filled up"
            failure.error(500, "storage failure")
            assert api.info(QUEUE)["size"] == len(acked)  # still answering
            assert api.peek(QUEUE).ok()["value"] == acked[0]
            filler.unlink()
            api.put(QUEUE, "after")
            assert api.drain(QUEUE) == [*acked, "after"]
    finally:
        server.kill()
