"""`disqueuectl`, the installed console script, end to end against the real server."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import StartServer
from .helpers import PYTHON, Api, Server, free_port

CTL = str(Path(PYTHON).parent / "disqueuectl")


def ctl(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `disqueuectl ARGS` to completion (the environment without DISQUEUE_*)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DISQUEUE_")}
    return subprocess.run(
        [CTL, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean | (env or {}),
        check=False,
    )


def ok(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    """The output of a command that must succeed and write nothing on stderr."""
    done = ctl(*args, stdin=stdin, env=env)
    assert (done.returncode, done.stderr) == (0, ""), done
    return done.stdout


def fails(*args: str, env: dict[str, str] | None = None) -> str:
    """The one stderr line of a command that must fail with status 1 and no output."""
    done = ctl(*args, env=env)
    assert (done.returncode, done.stdout) == (1, ""), done
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr.strip()


def as_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json"))


def test_queue_commands(open_server: Server) -> None:
    """create, queues, info, purge and delete, in text and in JSON."""
    url = ("--url", open_server.url)
    name = ok("create", *url).strip()
    named = as_json("create", "6f1c0b2e-0000-4000-8000-0000000000c1", "--max-items", "5", *url)
    assert named == {"name": "6f1c0b2e-0000-4000-8000-0000000000c1"}
    assert name in ok("queues", *url).splitlines()
    assert {name, named["name"]} <= set(as_json("queues", *url))
    info = as_json("info", named["name"], *url)
    assert (info["name"], info["size"], info["max_items"]) == (named["name"], 0, 5)
    text = ok("info", named["name"], *url)
    assert f"name           {named['name']}" in text.splitlines()
    ok("put", name, "one", *url)
    assert as_json("purge", name, *url) == {"purged": 1}
    assert ok("delete", name, *url) == ""
    assert name not in as_json("queues", *url)
    assert fails("info", name, *url) == "disqueuectl: queue does not exist"


def test_put_100000_lines_from_stdin(open_server: Server) -> None:
    """100,000 lines on stdin become 100,000 items, in order, in batches, with progress."""
    url = ("--url", open_server.url)
    queue = ok("create", *url).strip()
    lines = [f"line {n} with text" for n in range(100_000)]
    # FORCE_COLOR makes rich treat stderr as a terminal: the progress bar is drawn.
    done = ctl("put", queue, *url, stdin="\n".join(lines) + "\n", env={"FORCE_COLOR": "1"})
    assert (done.returncode, done.stdout) == (0, "put 100000 items\n"), done
    assert "100,000 items" in done.stderr
    with Api(open_server.url) as api:
        assert api.info(queue)["size"] == 100_000
        first = api.call("POST", "/take", data={"name": queue, "count": "1000"}).ok()
        assert [item["value"] for item in first] == lines[:1000]
    assert ok("purge", queue, *url) == "purged 99000\n"


def test_put_from_a_file_with_options(open_server: Server, tmp_path: Path) -> None:
    """put --file with a key and small batches; empty lines are items too."""
    url = ("--url", open_server.url)
    queue = ok("create", *url).strip()
    source = tmp_path / "values.txt"
    source.write_text("a\r\n\nc\n", encoding="utf-8")
    out = as_json("put", queue, "--file", str(source), "--key", "k", "--batch", "2", *url)
    assert out == {"put": 3}
    items = as_json("take", queue, "--count", "5", *url)
    assert [(item["key"], item["value"]) for item in items] == [("k", "a"), ("k", ""), ("k", "c")]
    missing = fails("put", queue, "--file", str(tmp_path / "nope.txt"), *url)
    assert missing.startswith("disqueuectl: ") and "nope.txt" in missing


def test_item_commands(open_server: Server) -> None:
    """put, peek, take (plain, keyed, leased, counted), ack, release, touch."""
    url = ("--url", open_server.url)
    queue = ok("create", *url).strip()
    item_id = as_json("put", queue, "first", "--key", "K", *url)["id"]
    ok("put", queue, "second", *url)
    assert ok("peek", queue, *url) == "first\n"
    assert as_json("peek", queue, "--key", "k", *url)["id"] == item_id
    receipt, value = ok("take", queue, "--lease", "30", *url).rstrip("\n").split("\t")
    assert receipt.startswith(item_id + ".") and value == "first"  # the delivery's receipt
    assert as_json("touch", queue, receipt, "--lease", "60", *url)["lease_expires"] > 0
    ok("release", queue, receipt, *url)
    taken = as_json("take", queue, "--lease", "30", *url)
    assert (taken["value"], taken["attempts"]) == ("first", 2)
    assert fails("ack", queue, receipt, *url) == "disqueuectl: no such lease"  # the old one
    assert ok("ack", queue, taken["receipt"], *url) == ""
    assert fails("ack", queue, taken["id"], *url) == "disqueuectl: no such lease"
    assert ok("take", queue, "--wait", "1", *url) == "second\n"
    assert fails("take", queue, *url) == "disqueuectl: no item to take"
    assert as_json("take", queue, "--count", "3", *url) == []


def test_watch(open_server: Server) -> None:
    """watch polls each queue's info: one JSON line per refresh, or a table."""
    url = ("--url", open_server.url)
    queue = ok("create", *url).strip()
    ok("put", queue, "x", *url)
    out = ok("watch", queue, "--count", "2", "--interval", "0.1", "--json", *url)
    refreshes = [json.loads(line) for line in out.splitlines()]
    assert len(refreshes) == 2
    assert [q["size"] for q in refreshes[-1]["queues"]] == [1]
    table = ok("watch", "--count", "1", *url)
    assert "size" in table and queue[:4] in table
    assert fails("watch", "00000000-0000-4000-8000-000000000000", "--count", "1", *url) == (
        "disqueuectl: queue does not exist"
    )


def test_auth_options_and_environment(start_server: StartServer) -> None:
    """--user/--password, or DISQUEUE_URL/USER/PASSWORD; a clear line without them."""
    server = start_server(
        {
            "servers": [{"authentication": "default"}],
            "authentication": {"default": {"type": "plaintext", "file": "passwords"}},
        },
        files={"passwords": "test:$plain$test\n"},
    )
    name = ok("create", "--url", server.url, "--user", "test", "--password", "test").strip()
    env = {"DISQUEUE_URL": server.url, "DISQUEUE_USER": "test", "DISQUEUE_PASSWORD": "test"}
    assert ok("queues", env=env).split() == [name]
    assert fails("queues", "--url", server.url) == "disqueuectl: authentication required"
    wrong = fails("queues", env=env | {"DISQUEUE_PASSWORD": "nope"})
    assert wrong == "disqueuectl: invalid credentials"


def test_unreachable_server_and_bad_usage() -> None:
    """No server: one line naming the URL, status 1; a usage error: status 2. The
    server options go before or after the command."""
    url = f"http://127.0.0.1:{free_port()}"
    for args in (("queues", "--url", url), ("--url", url, "queues")):  # either place
        assert fails(*args).startswith(f"disqueuectl: cannot reach {url}")
    done = ctl("frobnicate")
    assert done.returncode == 2 and "invalid choice" in done.stderr


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version(flag: str) -> None:
    """The script is installed and answers --help and --version."""
    assert ok(flag).startswith(("usage: disqueuectl", "disqueuectl "))
