"""Programs written for the original Disqueue Python client run unchanged on ours.

The program below is the original client's README example grown to every call it
offered (`queue_list`, `queue_create`, `Disqueue(url, auth=...)`, `queue()` with
`put`/`peek`/`take`/`info`/`verify`/`delete`, `@queue_handler`, `run()`), run as its
own process: `run()` serves forever, so the test stops it with SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from disqueue import Disqueue, QueueException, queue_create, queue_list

from .conftest import StartServer
from .helpers import PYTHON, Api, Server, wait_until

AUTH_CONFIG = {
    "servers": [{"authentication": "default"}],
    "authentication": {"default": {"type": "plaintext", "file": "passwords"}},
}

PROGRAM = """
import threading
import typing
from disqueue import Disqueue, queue_create, queue_list, QueueException

output = threading.Lock()  # the two handlers run on threads: one line at a time

auth = {auth}
url = '{url}'

queues = queue_list(url, auth=auth)
queue_id = queue_create(url, auth=auth)
assert queue_id in queue_list(url, auth=auth)

client = Disqueue(url, auth=auth)
queue = client.queue(queue_id)
queue.verify()
queue.put('key', 'first')
queue.put(None, 'second')
print('peek', queue.peek('KEY')['value'], flush=True)
taken = queue.take()
print('take', taken['key'], taken['value'], flush=True)
print('info', queue.info()['name'] == queue_id, flush=True)
try:
    client.queue('00000000-0000-4000-8000-000000000000')
except QueueException as error:
    print('missing', error.message, flush=True)

@client.queue_handler(queue_id, key=None)
def queue_handler(key: typing.Optional[str], value: str):
    with output:
        print('handled', key, value, flush=True)

@client.queue_handler(queue_id, 'job')
def job_handler(key: typing.Optional[str], value: str):
    with output:
        print('job', key, value, flush=True)

print('queue', queue_id, flush=True)
client.run()
print('run returned', flush=True)
"""


def _lines_until(proc: subprocess.Popen[str], prefix: str, seen: list[str]) -> str:
    """Read the program's output until a line starting with `prefix`; that line."""
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line.rstrip("\n"))
        if line.startswith(prefix):
            return seen[-1]
    raise AssertionError(f"the program ended before {prefix!r}: {seen}")


@pytest.mark.parametrize("with_auth", [True, False], ids=["auth", "open"])
def test_original_program_runs_unchanged(
    start_server: StartServer, tmp_path: Path, with_auth: bool
) -> None:
    """The original client's program: every call answers as it did, handlers get items."""
    if with_auth:
        server = start_server(AUTH_CONFIG, files={"passwords": "test:$plain$test\n"})
    else:
        server = start_server()
    auth = ("test", "test") if with_auth else None
    script = tmp_path / "program.py"
    script.write_text(PROGRAM.format(auth=repr(auth), url=server.url))
    seen: list[str] = []
    with subprocess.Popen(
        [PYTHON, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            queue_id = _lines_until(proc, "queue ", seen).split()[1]
            assert seen[:-1] == [
                "peek first",
                "take key first",
                "info True",
                "missing queue does not exist",
            ]
            with Api(server.url, auth=auth) as api:
                api.wait_for_consumers(queue_id, 2)
                for n in range(6):
                    api.put(queue_id, f"v{n}", "job" if n % 2 else None)
                handled = [_lines_until(proc, ("handled", "job"), seen) for _ in range(7)]
                # 'second' was left from before; the keyless handler takes anything, the
                # 'job' handler only items keyed 'job'.
                values = sorted(line.split()[-1] for line in handled)
                assert values == ["second"] + [f"v{n}" for n in range(6)]
                assert all(line.split()[1] == "job" for line in handled if line.startswith("job"))
                wait_until(lambda: api.info(queue_id)["size"] == 0, what="queue drained")
                api.wait_for_consumers(queue_id, 2)  # a new want after each item
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=10)
        finally:
            proc.kill()  # whatever failed above, the program does not outlive the test
    assert proc.returncode == 0, err
    assert out.strip().endswith("run returned"), (out, err)


def test_queue_exception_on_failed_requests(start_server: StartServer) -> None:
    """QueueException (from `disqueue`) on a missing queue, a wrong password, no item."""
    server = start_server(AUTH_CONFIG, files={"passwords": "test:$plain$test\n"})
    auth = ("test", "test")
    with pytest.raises(QueueException) as info:
        queue_list(server.url, auth=("test", "wrong"))
    assert info.value.message == "invalid credentials"
    queue_id = queue_create(server.url, "6f1c0b2e-0000-4000-8000-0000000000aa", auth=auth)
    assert queue_id == "6f1c0b2e-0000-4000-8000-0000000000aa"
    client = Disqueue(server.url, auth=auth)
    queue = client.queue(queue_id)
    assert client.queue(queue_id) is queue  # cached
    with pytest.raises(QueueException) as info:
        queue.take()
    assert info.value.message == "no item to take"
    queue.delete()
    with pytest.raises(QueueException) as info:
        queue.verify()
    assert info.value.message == "queue does not exist"


def test_run_in_a_thread_and_stop(open_server: Server) -> None:
    """`run()` in a thread serves a handler until `stop()`; a handler that raises is
    logged and keeps being served."""
    queue_id = queue_create(open_server.url)
    client = Disqueue(open_server.url)
    handled: list[str] = []
    got_three = threading.Event()

    @client.queue_handler(queue_id)
    def handler(key: str | None, value: str) -> Any:
        handled.append(value)
        if len(handled) == 3:
            got_three.set()
        if value == "boom":
            raise RuntimeError("handler failed")

    runner = threading.Thread(target=client.run)
    runner.start()
    try:
        with Api(open_server.url) as api:
            api.wait_for_consumers(queue_id, 1)
            for value in ("a", "boom", "c"):
                api.put(queue_id, value)
            assert got_three.wait(10), handled
    finally:
        client.stop()
        runner.join(10)
    assert not runner.is_alive()
    assert handled == ["a", "boom", "c"]
