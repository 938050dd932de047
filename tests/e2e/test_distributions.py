"""The two Python distributions as a user gets them: real wheels, built from a copy of
the repository's files, each installed into a fresh virtual environment
(docs/decisions/0009-distributions.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

from .helpers import PYTHON, REPO, Api, launch

#: Distributions the client package must never pull in: the server's own dependencies.
SERVER_ONLY = {
    "disqueue-server", "asyncpg", "uvloop", "argon2-cffi", "argon2-cffi-bindings", "bcrypt",
    "prometheus-client", "rich", "pygments", "markdown-it-py",
}  # fmt: skip

#: A program written for the original client, plus the new API, run from the client venv.
CLIENT_PROGRAM = textwrap.dedent(
    """
    import importlib.util, sys
    from disqueue import Disqueue, QueueException, queue_create, queue_list
    from disqueue.client import Client

    url = sys.argv[1]
    name = queue_create(url)
    assert name in queue_list(url) and callable(Disqueue)
    with Client(url) as client:
        client.put(name, "from-the-wheel", "k")
        with client.consume(name, prefetch=1) as items:
            for item in items:
                print(item.value, item.key)
                item.ack()
                break
        try:
            client.take(name)
        except QueueException as exc:
            print(exc.status, exc.message)
    print("server importable:", importlib.util.find_spec("disqueue.server") is not None)
    """
)


def run(*command: str | Path, timeout: float = 240) -> str:
    """Run a command; its stdout (the test fails with its output if it fails)."""
    done = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done.stdout


def new_venv(path: Path) -> Path:
    """A fresh virtual environment without pip (the .venv's pip installs into it)."""
    venv.create(path, with_pip=False, symlinks=True)
    return path / "bin" / "python"


def pip_install(python: Path, *wheels: Path, find_links: Path) -> None:
    """Install wheels (and their dependencies, from the package index) into a venv."""
    run(PYTHON, "-m", "pip", "--python", python, "install", "-q", "--find-links", find_links,
        *wheels)  # fmt: skip


def installed(python: Path) -> dict[str, str]:
    """The distributions of a venv, by normalised name."""
    listing = run(PYTHON, "-m", "pip", "--python", python, "list", "--format", "json")
    return {entry["name"].lower().replace("_", "-"): entry["version"]
            for entry in json.loads(listing)}  # fmt: skip


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The client and server wheels, built by pip from copies of their source trees (so
    the build sees only what the repository holds, and leaves nothing in it)."""
    work = tmp_path_factory.mktemp("wheels")
    ignore = shutil.ignore_patterns("*.egg-info", "__pycache__", "build")
    shutil.copytree(REPO / "clients" / "python", work / "client", ignore=ignore)
    (work / "server").mkdir()
    shutil.copytree(REPO / "src", work / "server" / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, work / "server" / name)
    out = work / "dist"
    for tree in ("client", "server"):
        run(PYTHON, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, work / tree)
    built = {wheel.name.split("-")[0]: wheel for wheel in out.glob("*.whl")}
    assert set(built) == {"disqueue", "disqueue_server"}, built
    return {"client": built["disqueue"], "server": built["disqueue_server"], "dir": out}


def test_wheels_share_no_file(wheels: dict[str, Path]) -> None:
    """The two wheels fill one `disqueue` package without a file in common: the client
    owns `__init__.py` and `client/`, the server everything else."""
    import zipfile

    def files(wheel: Path) -> set[str]:
        names = zipfile.ZipFile(wheel).namelist()
        return {name for name in names if name.startswith("disqueue/")}

    client, server = files(wheels["client"]), files(wheels["server"])
    assert not client & server
    assert "disqueue/__init__.py" in client and "disqueue/client/consumer.py" in client
    assert "disqueue/server/app.py" in server and "disqueue/storage/sql/" in str(sorted(server))
    assert "disqueue/wire.json" in server  # the protocol description the server reads
    assert not any(name.startswith("disqueue/client/") for name in server)


@pytest.mark.timeout(600)  # two fresh venvs, their dependencies from the package index
def test_client_wheel_alone_talks_to_server_wheel(wheels: dict[str, Path], tmp_path: Path) -> None:
    """The client wheel alone, in a fresh venv, pulls none of the server's dependencies
    and runs an original-client program against a server installed from the server
    wheel in another fresh venv."""
    client_python = new_venv(tmp_path / "client-venv")
    pip_install(client_python, wheels["client"], find_links=wheels["dir"])
    names = installed(client_python)
    assert "disqueue" in names
    assert not SERVER_ONLY & set(names), sorted(names)
    assert {"httpx", "aiohttp", "orjson"} <= set(names)

    server_python = new_venv(tmp_path / "server-venv")
    pip_install(server_python, wheels["server"], find_links=wheels["dir"])
    assert {"disqueue", "disqueue-server"} <= set(installed(server_python))
    server = launch(tmp_path / "server", python=str(server_python))
    try:
        output = run(client_python, "-c", CLIENT_PROGRAM, server.url, timeout=60)
        assert output.splitlines() == [
            "from-the-wheel k",
            "404 no item to take",
            "server importable: False",
        ]
        with Api(server.url) as api:
            queues = api.queues()
        assert len(queues) == 1
        ctl = server_python.parent / "disqueuectl"
        assert run(ctl, "--url", server.url, "queues", timeout=60).split() == queues
    finally:
        server.shutdown()
