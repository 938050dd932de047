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


def fails(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, status: int = 1
) -> str:
    """The one stderr line of a command that must fail with `status` and no output."""
    done = ctl(*args, env=env, stdin=stdin)
    assert (done.returncode, done.stdout) == (status, ""), done
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


def test_pause_resume_retry_delays_and_purge_in_flight(open_server: Server) -> None:
    """create --retry-delays, pause, resume and purge --in-flight, in text and in JSON."""
    url = ("--url", open_server.url)
    name = ok("create", "--retry-delays", "2,10", *url).strip()
    assert as_json("info", name, *url)["retry_delays"] == [2.0, 10.0]
    assert ok("pause", name, *url) == f"{name} paused\n"
    assert as_json("info", name, *url)["paused"] is True
    assert as_json("resume", name, *url) == {"name": name, "paused": False}
    ok("put", name, "one", *url)
    ok("take", name, "--lease", "30", *url)
    assert as_json("purge", name, *url) == {"purged": 0}
    assert as_json("purge", name, "--in-flight", *url) == {"purged": 1}
    changed = as_json("settings", name, "--max-items", "3", "--clear", "retry_delays", *url)
    assert (changed["max_items"], changed["retry_delays"]) == (3, None)
    assert "max_items      3" in ok("settings", name, "--delay", "5", *url).splitlines()
    letters = ok("create", *url).strip()
    failing = ok("create", "--max-attempts", "1", "--dead-letter", letters, *url).strip()
    ok("put", failing, "poison", *url)
    receipt = ok("take", failing, "--lease", "30", *url).split("\t")[0]
    ok("release", failing, receipt, "--delay", "0", *url)
    assert ok("redrive", letters, *url) == "moved 1\n"
    assert as_json("redrive", letters, "--to", failing, *url) == {"moved": 0}
    assert "not a dead-letter queue" in fails("redrive", failing, *url)
    refused = ctl("create", "--retry-delays", "soon", *url)
    assert refused.returncode == 2 and "not a list of seconds: 'soon'" in refused.stderr


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
    """put --file with a key and small batches; blank lines are no items, and counted."""
    url = ("--url", open_server.url)
    queue = ok("create", *url).strip()
    source = tmp_path / "values.txt"
    source.write_text("a\r\n\n \n\r\nc\n", encoding="utf-8")
    out = as_json("put", queue, "--file", str(source), "--key", "k", "--batch", "2", *url)
    assert out == {"put": 3, "blank": 2}
    items = as_json("take", queue, "--count", "5", *url)
    assert [(item["key"], item["value"]) for item in items] == [("k", "a"), ("k", " "), ("k", "c")]
    assert ok("put", queue, *url, stdin="x\n\ny\n") == "put 2 items (1 blank lines skipped)\n"
    missing = fails("put", queue, "--file", str(tmp_path / "nope.txt"), *url)
    assert missing.startswith("disqueuectl: ") and "nope.txt" in missing


def test_put_with_headers(open_server: Server) -> None:
    """put --header NAME=VALUE (repeated) on one value and on lines; take --json shows
    them; a --header without '=' is a usage error."""
    url = ("--url", open_server.url)
    queue = ok("create", *url).strip()
    ok("put", queue, "one", "--header", "trace=t-1", "--header", "kind=a=b", *url)
    ok("put", queue, "--header", "from=lines", *url, stdin="x\ny\n")
    items = as_json("take", queue, "--count", "5", *url)
    assert [item.get("headers") for item in items] == [
        {"trace": "t-1", "kind": "a=b"}, {"from": "lines"}, {"from": "lines"},
    ]  # fmt: skip
    assert "NAME=VALUE" in fails("put", queue, "v", "--header", "nothing", *url, status=2)


def test_put_with_priority(open_server: Server) -> None:
    """put --priority on one value and on lines: the highest is taken first."""
    url = ("--url", open_server.url)
    queue = ok("create", *url).strip()
    ok("put", queue, "low", *url)
    ok("put", queue, "--priority", "7", *url, stdin="x\ny\n")
    items = as_json("take", queue, "--count", "5", *url)
    assert [(i["value"], i.get("priority")) for i in items] == [
        ("x", 7), ("y", 7), ("low", None),
    ]  # fmt: skip


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
    # --count that takes nothing fails as a plain take does (it used to exit 0).
    assert fails("take", queue, "--count", "3", *url) == "disqueuectl: no item to take"
    assert fails("peek", queue, *url) == "disqueuectl: no item to peek"


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
    assert fails("queues", "--url", server.url) == (
        "disqueuectl: authentication required (give --user and --password, "
        "or set DISQUEUE_USER and DISQUEUE_PASSWORD)"
    )
    wrong = fails("queues", env=env | {"DISQUEUE_PASSWORD": "nope"})
    assert wrong == "disqueuectl: invalid credentials"


def test_unreachable_server_and_bad_usage() -> None:
    """No server: one line naming the URL, status 3; a usage error: status 2. The
    server options go before or after the command."""
    url = f"http://127.0.0.1:{free_port()}"
    for args in (("queues", "--url", url), ("--url", url, "queues")):  # either place
        assert fails(*args, status=3).startswith(f"disqueuectl: cannot reach {url}")
    done = ctl("frobnicate")
    assert done.returncode == 2 and "invalid choice" in done.stderr
    assert fails("put", "q", "--batch", "0", "--url", url, stdin="x\n", status=2) == (
        "disqueuectl: --batch must be 1..1000"
    )


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version(flag: str) -> None:
    """The script is installed and answers --help and --version."""
    assert ok(flag).startswith(("usage: disqueuectl", "disqueuectl "))


def test_url_without_scheme(open_server: Server) -> None:
    """`--url host:port` and DISQUEUE_URL=host:port mean http://host:port."""
    bare = open_server.url.removeprefix("http://")
    name = ok("create", "--url", bare).strip()
    assert name in ok("queues", env={"DISQUEUE_URL": bare}).split()


def test_json_errors_and_exit_statuses(open_server: Server) -> None:
    """Under --json an error is one JSON object on stderr (message, HTTP status, exit
    status), stdout stays empty; the statuses are the documented ones."""
    url = ("--url", open_server.url)
    missing = "00000000-0000-4000-8000-000000000000"
    done = ctl("info", missing, "--json", *url)
    assert (done.returncode, done.stdout) == (1, "")
    assert json.loads(done.stderr) == {
        "error": "queue does not exist",
        "exit_status": 1,
        "status": 404,
    }
    unreachable = ctl("queues", "--json", "--url", f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 3
    assert json.loads(unreachable.stderr)["error"].startswith("cannot reach")
    usage = ctl("take", missing, "--count", "many", "--json", *url)
    assert (usage.returncode, usage.stdout) == (2, "")
    assert json.loads(usage.stderr) == {
        "error": "argument --count: invalid int value: 'many'",
        "exit_status": 2,
    }
    assert "exit status: 0 done; 1 the server refused" in " ".join(ok("--help").split())


@pytest.fixture
def small_values(start_server: StartServer) -> Server:
    """A server that refuses values over 100 bytes."""
    return start_server({"limits": {"max_value_bytes": 100}})


def lines_file(path: Path, lines: list[str], too_long: int | None = None) -> Path:
    """`lines` written to `path`, line number `too_long` (from 1) replaced by 200 bytes."""
    written = [("x" * 200 if number == too_long else line) for number, line in
               enumerate(lines, 1)]  # fmt: skip
    path.write_text("\n".join(written) + "\n", encoding="utf-8")
    return path


def test_failed_bulk_put_names_the_line_and_resumes(small_values: Server, tmp_path: Path) -> None:
    """A bulk put refused at line 2501 says so, how many items it stored (2000: the
    batches before) and the --skip that goes on; resumed, every line is in once, in order."""
    url = ("--url", small_values.url)
    queue = ok("create", *url).strip()
    lines = [f"v{n}" for n in range(1, 3001)]
    source = lines_file(tmp_path / "lines.txt", lines, too_long=2501)
    assert fails("put", queue, "--file", str(source), *url) == (
        "disqueuectl: line 2501: value too large; 2000 items stored; resume with --skip 2000"
    )
    done = ctl("put", queue, "--file", str(source), "--json", *url)
    assert (done.returncode, done.stdout) == (1, "")
    assert json.loads(done.stderr) == {
        "error": "line 2501: value too large; 2000 items stored; resume with --skip 2000",
        "exit_status": 1, "line": 2501, "stored": 2000, "skip": 2000, "status": 400,
    }  # fmt: skip
    ok("purge", queue, *url)
    fails("put", queue, "--file", str(source), *url)
    lines_file(source, lines)
    assert ok("put", queue, "--file", str(source), "--skip", "2000", *url) == "put 1000 items\n"
    with Api(small_values.url) as api:
        assert api.drain(queue) == lines


def test_bulk_put_with_dedup_prefix_runs_again_without_duplicates(
    small_values: Server, tmp_path: Path
) -> None:
    """With --dedup-prefix each line's item has the dedup id PREFIX:<line>: after a
    failure, the same command run again (no --skip) stores each line once."""
    url = ("--url", small_values.url)
    queue = ok("create", *url).strip()
    lines = [f"w{n}" for n in range(1, 1201)]
    source = lines_file(tmp_path / "lines.txt", lines, too_long=1101)
    command = ("put", queue, "--file", str(source), "--dedup-prefix", "jobs-1", "--batch", "500")
    assert fails(*command, *url) == (
        "disqueuectl: line 1101: value too large; 1000 items stored; resume with --skip 1000"
    )
    lines_file(source, lines)
    assert ok(*command, *url) == "put 1200 items\n"  # 1000 of them already there
    assert ok(*command, *url) == "put 1200 items\n"
    with Api(small_values.url) as api:
        assert api.drain(queue) == lines


def test_bulk_put_reports_text_that_is_not_utf8(open_server: Server, tmp_path: Path) -> None:
    """A line that is not UTF-8 is named, with what was stored before it."""
    url = ("--url", open_server.url)
    queue = ok("create", *url).strip()
    source = tmp_path / "bad.txt"
    source.write_bytes(b"a\nb\n\xff\xfe\nc\n")
    assert fails("put", queue, "--file", str(source), "--batch", "1", *url) == (
        "disqueuectl: line 3: not UTF-8 text; 2 items stored; resume with --skip 2"
    )


def test_watch_fits_the_terminal_and_shows_settings(open_server: Server) -> None:
    """watch at 60 columns drops columns rather than cutting numbers; at 200 it shows
    them all; under --json the settings are the queue's own, not null."""
    url = ("--url", open_server.url)
    queue = as_json("create", "--lease", "30", "--max-items", "5000", *url)["name"]
    ok("put", queue, *url, stdin="".join(f"{n}\n" for n in range(1234)))
    narrow = ok("watch", queue, "--count", "1", *url, env={"COLUMNS": "60"})
    assert narrow.strip() and max(len(line) for line in narrow.splitlines()) <= 60
    assert "1234" in narrow and "size" in narrow and "dead" not in narrow
    wide = ok("watch", queue, "--count", "1", *url, env={"COLUMNS": "200"})
    assert queue in wide and "dead lettered" in wide and "taken/s" in wide
    (refresh,) = [json.loads(line) for line in ok("watch", queue, "--count", "1", "--json", *url)
                  .splitlines()]  # fmt: skip
    (shown,) = refresh["queues"]
    assert (shown["lease"], shown["max_items"], shown["size"]) == (30, 5000, 1234)
    assert shown["created"] is not None
