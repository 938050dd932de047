"""The README's client examples run as they are written, against the real server."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from .conftest import StartServer
from .helpers import PYTHON, REPO, Server, signal_after_first_line

ORIGINAL_URL = 'url, auth = "http://127.0.0.1:3682", None'


def _examples() -> list[str]:
    """The Python blocks of the README's "Clients" section."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Clients\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def _env(url: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DISQUEUE_")}
    return clean | {"DISQUEUE_URL": url}


EXAMPLES = _examples()
FINITE = [example for example in EXAMPLES if "client.run()" not in example]


def test_the_section_has_its_examples() -> None:
    """Four examples end on their own, one serves forever (the original client's)."""
    assert (len(EXAMPLES), len(FINITE)) == (4, 3)


@pytest.mark.parametrize("example", FINITE, ids=["client", "async-worker", "sync-worker"])
def test_example_runs(open_server: Server, tmp_path: Path, example: str) -> None:
    """The example exits 0 and prints what its `# -> ...` comments say."""
    script = tmp_path / "example.py"
    script.write_text(example)
    done = subprocess.run(
        [PYTHON, str(script)], env=_env(open_server.url), capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = re.findall(r"print\(.*\)  # -> (.*)", example)
    assert expected
    for line in expected:
        assert line in done.stdout.splitlines(), (line, done.stdout)


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_original_client_example(start_server: StartServer, tmp_path: Path, storage: str) -> None:
    """The original client's example handles its item, then stops on SIGTERM. It takes
    the server's first queue, so the server is a new one: on the shared server that
    queue may hold what another test left in it."""
    server = start_server({"storage": {"type": storage}})
    example = next(example for example in EXAMPLES if "client.run()" in example)
    assert ORIGINAL_URL in example
    script = tmp_path / "original.py"
    script.write_text(example.replace(ORIGINAL_URL, f"url, auth = {server.url!r}, None"))
    status, _, err = signal_after_first_line([PYTHON, str(script)], "key value")
    assert status == 0, err
