"""The command line: usage, bad options, config file errors, ports, the no-config default."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import textwrap
from pathlib import Path

import pytest

from .conftest import StartServer
from .helpers import PYTHON, REPO, Api, free_high_port, free_port, run_cli


def test_help_exits_zero_with_usage() -> None:
    """`disqueue -h` prints usage mentioning -c and exits 0."""
    result = run_cli("-h")
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout.lower()
    assert "-c" in result.stdout


def test_console_script_help() -> None:
    """The `disqueue` console script is installed and answers -h."""
    script = REPO / ".venv" / "bin" / "disqueue"
    result = subprocess.run(
        [str(script), "-h"], capture_output=True, text=True, timeout=15, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout.lower()


@pytest.mark.parametrize("args", [["--bogus"], ["-z"], ["-c"]])
def test_bad_options_exit_nonzero(args: list[str]) -> None:
    """An unknown option, or -c without a file, exits ≠ 0 with a message on stderr."""
    result = run_cli(*args)
    assert result.returncode != 0
    assert result.stderr.strip()
    assert "Traceback" not in result.stderr


def _assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected a one-line error, got:\n{result.stderr}"
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


def test_missing_config_file(tmp_path: Path) -> None:
    """A config file that does not exist → exit ≠ 0, one line naming the file."""
    missing = tmp_path / "no-such-config.json"
    _assert_one_line_error(run_cli("-c", str(missing)), "no-such-config.json")


def test_config_not_json(tmp_path: Path) -> None:
    """A config file that is not JSON → exit ≠ 0, one line naming the file."""
    path = tmp_path / "broken.json"
    path.write_text("{ this is not json")
    _assert_one_line_error(run_cli("-c", str(path)), "broken.json")


def _listener(**fields: object) -> dict[str, object]:
    return {"hostname": "127.0.0.1", "port": free_port(), **fields}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"servers": [_listener(port="abc")]}, "servers[0].port"),
        ({"servers": [_listener(port=70000)]}, "servers[0].port"),
        ({"servers": [_listener(port=-1)]}, "servers[0].port"),
        ({"servers": [_listener(), _listener(port="x")]}, "servers[1].port"),
        ({"servers": [_listener(authentication="nope")]}, "servers[0].authentication"),
        (
            {
                "servers": [_listener(authentication="nope")],
                "authentication": {"default": {"type": "plaintext", "file": "passwords"}},
            },
            "servers[0].authentication",
        ),
        ({"servers": "x"}, "servers"),
        ({"servers": []}, "servers"),
        (
            {
                "servers": [_listener(authentication="default")],
                "authentication": {"default": {"type": "ldap", "file": "passwords"}},
            },
            "authentication.default.type",
        ),
        (
            {
                "servers": [_listener(authentication="default")],
                "authentication": {"default": {"type": "plaintext", "file": "missing-pw"}},
            },
            "authentication.default.file",
        ),
        (
            {"servers": [_listener(security={"certificate": "no.pem", "privatekey": "no.key"})]},
            "servers[0].security.certificate",
        ),
        (
            {"servers": [_listener()], "limits": {"max_value_bytes": "big"}},
            "limits.max_value_bytes",
        ),
    ],
    ids=[
        "port-string",
        "port-too-big",
        "port-negative",
        "second-listener",
        "no-auth",
        "bad-auth",
        "servers-not-list",
        "servers-empty",
        "auth-type",
        "password-file-missing",
        "certificate-missing",
        "limit-not-int",
    ],
)
def test_bad_config_field(tmp_path: Path, config: dict[str, object], field: str) -> None:
    """A config with a bad field → exit ≠ 0, one line naming the file and the field."""
    (tmp_path / "passwords").write_text("a:$plain$b\n")
    path = tmp_path / "bad-field.json"
    path.write_text(json.dumps({**config, "storage": {"type": "memory"}}))
    _assert_one_line_error(run_cli("-c", str(path), cwd=tmp_path), "bad-field.json", field)


def test_port_in_use_exits_nonzero(tmp_path: Path) -> None:
    """A listener whose port is taken makes the server exit ≠ 0 with a message, not hang."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = tmp_path / "config.json"
        config = {
            "servers": [{"hostname": "127.0.0.1", "port": port}],
            "storage": {"type": "memory"},
        }
        path.write_text(json.dumps(config))
        result = run_cli("-c", str(path), cwd=tmp_path)
    assert result.returncode != 0
    assert str(port) in result.stderr
    assert "Traceback" not in result.stderr


def test_high_port(start_server: StartServer) -> None:
    """A listener on a port above 32767 works (the port is not a signed 16-bit number)."""
    port = free_high_port()
    server = start_server({"servers": [{"hostname": "127.0.0.1", "port": port}]})
    assert server.url.endswith(f":{port}")
    with Api(server.url) as client:
        name = client.new_queue()
        client.put(name, "high")
        assert client.take_item(name)["value"] == "high"


def test_hostname_localhost(start_server: StartServer) -> None:
    """A listener with hostname `localhost` answers on http://localhost:PORT."""
    server = start_server({"servers": [{"hostname": "localhost"}]})
    assert server.url.startswith("http://localhost:")
    with Api(server.url) as client:
        assert client.queues() == []


def test_config_in_other_directory(start_server: StartServer, tmp_path: Path) -> None:
    """`-c` with a path to a config in another folder runs that config from any cwd."""
    cwd = tmp_path / "somewhere-else"
    cwd.mkdir()
    server = start_server(cwd=cwd)
    with Api(server.url) as client:
        assert client.call("GET", "/health").ok()["status"] == "ok"


# ------------------------------------------------------------ no config at all

_DEFAULT_PORT_PROBE = textwrap.dedent(
    """
    import fcntl, json, signal, socket, struct, subprocess, sys, time, urllib.request

    # In a fresh network namespace the loopback interface starts down.
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ifreq = struct.pack("16sh", b"lo", 0)
    flags = struct.unpack("16sh", fcntl.ioctl(sock, 0x8913, ifreq))[1]
    if not flags & 1:
        fcntl.ioctl(sock, 0x8914, struct.pack("16sh", b"lo", flags | 1))
    sock.close()

    python, cwd = sys.argv[1], sys.argv[2]
    out = open(cwd + "/server.out", "wb")
    proc = subprocess.Popen([python, "-m", "disqueue"], cwd=cwd, stdout=out, stderr=out)
    result = {}
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:3682/health", timeout=1) as r:
                    result["health"] = json.load(r)
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    result["error"] = "server never answered on 127.0.0.1:3682"
                    break
                time.sleep(0.05)
        if "health" in result:
            req = urllib.request.Request("http://127.0.0.1:3682/queues", data=b"", method="POST")
            with urllib.request.urlopen(req, timeout=5) as r:
                result["created"] = json.load(r)
            with urllib.request.urlopen("http://127.0.0.1:3682/queues", timeout=5) as r:
                result["listed"] = json.load(r)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            result["status"] = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            result["status"] = "hung"
    print(json.dumps(result))
    """
)


def _namespace_prefix() -> list[str]:
    """A command prefix running its command in a private network namespace, if possible."""
    candidates = [["unshare", "-n"]] if os.geteuid() == 0 else []
    candidates.append(["unshare", "-rn"])
    for prefix in candidates:
        try:
            probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return prefix
    return []


def test_no_config_serves_default_port(tmp_path: Path) -> None:
    """Without -c the server listens on 127.0.0.1:3682 and serves the API.

    It runs in a private network namespace when the system allows it, so port 3682 is
    free whatever else runs on this machine.
    """
    prefix = _namespace_prefix()
    if not prefix:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", 3682))
            except OSError as exc:
                raise AssertionError(
                    "port 3682 is busy and no private network namespace is available"
                ) from exc
    result = subprocess.run(
        [*prefix, PYTHON, "-c", _DEFAULT_PORT_PROBE, PYTHON, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=40,
        check=False,
    )
    server_out = (tmp_path / "server.out").read_text(errors="replace")
    assert result.returncode == 0, (result.stderr, server_out)
    report = json.loads(result.stdout)
    assert "error" not in report, (report, server_out)
    assert report["health"]["payload"]["status"] == "ok"
    assert report["created"]["success"] is True
    assert report["listed"]["payload"] == [report["created"]["payload"]]
    assert report["status"] == 0, server_out
