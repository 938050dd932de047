"""The SQLite writer process (decision 0018): it lives and dies with its server, and a
writer that is gone is a storage failure, never a lost acknowledgement."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import requests

from .conftest import StartServer
from .helpers import Api

QUEUE = "3b1f0c2a-8d4e-4f6a-9b7c-1d2e3f4a5b6c"
SQLITE = {"storage": {"type": "sqlite", "path": "data/disqueue.db"}}


def _writer_of(pid: int) -> int:
    """The pid of the server's one child process, its SQLite writer."""
    children = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as listed:
            children += [int(child) for child in listed.read().split()]
    assert len(children) == 1, children
    with open(f"/proc/{children[0]}/cmdline", "rb") as cmdline:
        assert b"disqueue.storage.embedded.sqlite_process" in cmdline.read()
    return children[0]


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":  # exited, not reaped
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_the_writer_ends_with_a_killed_server(start_server: StartServer, tmp_path: Path) -> None:
    """kill -9 of the server leaves no writer behind holding the file: the writer sees
    its socket close and exits, and the next server opens the file with every
    acknowledged put in it."""
    server = start_server(SQLITE, directory=tmp_path / "node")
    with Api(server.url) as api:
        api.new_queue(QUEUE)
        for i in range(3):
            api.put(QUEUE, f"v{i}")
    writer = _writer_of(server.proc.pid)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    assert _gone(writer)
    server = start_server(server.config, directory=tmp_path / "node")
    with Api(server.url) as api:
        assert api.drain(QUEUE) == ["v0", "v1", "v2"]


def test_signals_to_the_writer_do_not_end_it(start_server: StartServer, tmp_path: Path) -> None:
    """A Ctrl-C or SIGTERM sent to the whole process group reaches the writer too: it
    leaves the stopping to the server, whose last commits it still makes."""
    server = start_server(SQLITE, directory=tmp_path / "node")
    with Api(server.url) as api:
        api.new_queue(QUEUE)
        writer = _writer_of(server.proc.pid)
        os.kill(writer, signal.SIGINT)
        os.kill(writer, signal.SIGTERM)
        time.sleep(0.3)
        assert not _gone(writer, timeout=0.1)
        api.put(QUEUE, "after the signals")
    assert server.stop() == 0
    assert _gone(writer)
    with sqlite3.connect(tmp_path / "node" / "data" / "disqueue.db") as connection:
        values = connection.execute("SELECT value FROM items").fetchall()
    assert values == [("after the signals",)]


def test_a_killed_writer_is_a_storage_failure(start_server: StartServer, tmp_path: Path) -> None:
    """With its writer killed the server answers 500 storage failure to a put and 503
    not ready to /health, instead of hanging or acknowledging what it cannot store;
    what was acknowledged before is there after a restart."""
    server = start_server(SQLITE, directory=tmp_path / "node")
    with Api(server.url) as api:
        api.new_queue(QUEUE)
        api.put(QUEUE, "kept")
        os.kill(_writer_of(server.proc.pid), signal.SIGKILL)
        time.sleep(0.3)
        api.call("POST", "/put", data={"name": QUEUE, "value": "refused"}).error(
            500, "storage failure"
        )
        # (its failure payload is the only one with fields, so not through `Api`)
        health = requests.get(f"{server.url}/health", timeout=30)
        body = health.json()
        assert health.status_code == 503, body
        assert "the writer has stopped" in body["message"], body
        assert body["payload"]["storage"] == {"kind": "sqlite", "ready": False}, body
    server.stop()
    server = start_server(server.config, directory=tmp_path / "node")
    with Api(server.url) as api:
        assert api.drain(QUEUE) == ["kept"]
