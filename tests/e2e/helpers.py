"""Helpers for the end-to-end tests: the server process, an HTTP client that checks the
response envelope on every reply, and WebSocket receive helpers.

The server is always the real process, `python -m disqueue -c CONFIG`, started from the
repository's virtual environment.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import http.client
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import aiohttp
import requests
from aiohttp import web

REPO = Path(__file__).resolve().parents[2]
_VENV_PYTHON = REPO / ".venv" / "bin" / "python"
PYTHON = str(_VENV_PYTHON) if _VENV_PYTHON.exists() else sys.executable

READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


# --------------------------------------------------------------------------- ports


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_high_port(low: int = 40000, high: int = 60999) -> int:
    """A free port of at least `low` (above the signed 16-bit range)."""
    candidates = random.sample(range(low, high + 1), 200)
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port found in {low}..{high}")


# --------------------------------------------------------------------------- process


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 15.0
) -> subprocess.CompletedProcess[str]:
    """Run `python -m disqueue ARGS` to completion and capture its output."""
    try:
        return subprocess.run(
            [PYTHON, "-m", "disqueue", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"`disqueue {' '.join(args)}` did not exit within {timeout} s "
            f"(stdout={exc.stdout!r}, stderr={exc.stderr!r})"
        ) from exc


def client_ssl_context(verify: bool = False) -> ssl.SSLContext:
    """A client TLS context; unverified unless the caller adds trust itself."""
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass
class Server:
    """A running `disqueue` process and the base URLs of its listeners."""

    proc: subprocess.Popen[bytes]
    urls: list[str]
    config_path: Path
    stdout_path: Path
    stderr_path: Path
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The first listener's base URL."""
        return self.urls[0]

    @property
    def ports(self) -> list[int]:
        return [int(listener["port"]) for listener in self.config["servers"]]

    @property
    def directory(self) -> Path:
        return self.config_path.parent

    def output(self) -> str:
        """Everything the process wrote so far, stdout then stderr."""
        out = self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""
        err = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return f"--- stdout ---\n{out}\n--- stderr ---\n{err}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send `sig` and wait for the exit status; kill and fail if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(
                    f"server did not exit within {timeout} s of signal {sig}\n{self.output()}"
                ) from None
        return int(self.proc.returncode)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def shutdown(self) -> None:
        """Stop it cleanly (failing the test if that hangs), and kill whatever is left."""
        try:
            self.stop()
        finally:
            self.kill()


@contextlib.contextmanager
def running(
    directory: Path,
    config: Mapping[str, Any] | None = None,
    files: Mapping[str, str | bytes] | None = None,
) -> Iterator[Server]:
    """A server launched for the block, shut down after it."""
    server = launch(directory, config, files)
    try:
        yield server
    finally:
        server.shutdown()


def _accepts(url: str) -> bool:
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1.0).close()
    except OSError:
        return False
    return True


def _health_ok(url: str, timeout: float = 1.0, client_cert: Path | None = None) -> bool:
    scheme, rest = url.split("://", 1)
    host, port = rest.rsplit(":", 1)
    conn: http.client.HTTPConnection
    if scheme == "https":
        context = client_ssl_context()
        if client_cert is not None:
            context.load_cert_chain(client_cert)
        conn = http.client.HTTPSConnection(host, int(port), timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", "/health")
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def complete_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Fill in what a test left out: one listener, 127.0.0.1, free ports, memory storage."""
    full = copy.deepcopy(dict(config or {}))
    servers = full.setdefault("servers", [{}])
    if not servers:
        servers.append({})
    for listener in servers:
        listener.setdefault("hostname", "127.0.0.1")
        if listener.get("port") is None:
            listener["port"] = free_port()
    full.setdefault("storage", {"type": "memory"})
    if full["storage"] is None:  # the test wants the server's default storage
        del full["storage"]
    return full


def launch(
    directory: Path,
    config: Mapping[str, Any] | None = None,
    files: Mapping[str, str | bytes] | None = None,
    cwd: Path | None = None,
    client_cert: Path | None = None,
    python: str = PYTHON,
) -> Server:
    """Write the config (and extra files) into `directory`, start the server, wait for it.

    The process runs in `cwd` (default: `directory`). `client_cert` (a PEM file with
    certificate and key) is presented to listeners that require one. `python` is the
    interpreter that runs `-m disqueue` (default: the repository's .venv).
    """
    directory.mkdir(parents=True, exist_ok=True)
    full = complete_config(config)
    for name, content in (files or {}).items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    config_path = directory / "config.json"
    config_path.write_text(json.dumps(full, indent=2))
    stdout_path = directory / "server.stdout"
    stderr_path = directory / "server.stderr"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            [python, "-m", "disqueue", "-c", str(config_path)],
            cwd=cwd or directory,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    urls = [
        f"{'https' if 'security' in listener else 'http'}://{listener['hostname']}:{listener['port']}"
        for listener in full["servers"]
    ]
    server = Server(proc, urls, config_path, stdout_path, stderr_path, full)
    deadline = time.monotonic() + READY_TIMEOUT
    # A listener that requires client certificates cannot be asked for /health without
    # one: it is ready once it accepts connections.
    pending = [
        (url, "client_ca" in listener.get("security", {}))
        for url, listener in zip(urls, full["servers"], strict=True)
    ]
    while pending:
        if proc.poll() is not None:
            raise AssertionError(
                f"server exited with status {proc.returncode} before it was ready\n"
                f"{server.output()}"
            )
        if time.monotonic() > deadline:
            server.kill()
            raise AssertionError(
                f"server not ready within {READY_TIMEOUT} s on {pending}\n{server.output()}"
            )
        url, needs_certificate = pending[0]
        if client_cert is not None:
            ready = _health_ok(url, client_cert=client_cert)
        else:
            ready = _accepts(url) if needs_certificate else _health_ok(url)
        if ready:
            pending.pop(0)
        else:
            time.sleep(0.05)
    return server


def signal_after_first_line(
    cmd: list[str], first_line: str, sig: int = signal.SIGTERM, timeout: float = 15.0
) -> tuple[int, str, str]:
    """Run `cmd`; once its first line of output is `first_line`, send `sig`. Its exit
    status, the rest of its output and its stderr (the process never outlives this)."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == first_line + "\n"
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=timeout)
        finally:
            proc.kill()
    return proc.returncode, out, err


# --------------------------------------------------------------------------- HTTP


def basic(user: str, password: str) -> str:
    """The value of an `Authorization: Basic` header."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _wire_errors() -> list[tuple[int, re.Pattern[str]]]:
    """The HTTP errors `src/disqueue/wire.json` lists: (status, the message as a pattern,
    each `{placeholder}` standing for any text)."""
    wire = json.loads((REPO / "src" / "disqueue" / "wire.json").read_text())
    errors = []
    for entry in wire["errors"]:
        parts = re.split(r"\{[a-z_]+\}", entry["message"])
        errors.append((entry["status"], re.compile(".+".join(map(re.escape, parts)), re.DOTALL)))
    return errors


#: Every error an end-to-end test sees must be one the protocol's description lists,
#: with its status: a new error message the server says without wire.json (and so
#: without /openapi.json) telling clients of it fails the test that meets it.
WIRE_ERRORS = _wire_errors()


def check_wire_error(status: int | None, message: str) -> None:
    """Assert that (status, message) is an error listed in wire.json; a WebSocket error
    (status None) may be any listed message, since ops answer with HTTP's errors too."""
    assert any((status is None or s == status) and p.fullmatch(message) for s, p in WIRE_ERRORS), (
        f"status {status} {message!r} is not an error src/disqueue/wire.json lists"
    )


def check_envelope(status: int, headers: Mapping[str, str] | Message, raw: bytes) -> dict[str, Any]:
    """Assert the response envelope of API.md (an error one that wire.json lists) and
    return the decoded body."""
    ctype = headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip().lower() == "application/json", (
        f"status {status}: Content-Type {ctype!r}, body {raw[:300]!r}"
    )
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise AssertionError(f"status {status}: body is not JSON: {raw[:300]!r}") from exc
    assert isinstance(body, dict), f"status {status}: body is not an object: {body!r}"
    assert set(body) == {"success", "message", "payload"}, f"status {status}: envelope {body!r}"
    assert body["success"] is (200 <= status < 300), f"status {status}: {body!r}"
    if body["success"]:
        assert body["message"] is None, body
    else:
        assert isinstance(body["message"], str), body
        assert body["message"], body
        assert body["payload"] is None, body
        check_wire_error(status, body["message"])
    return body


@dataclass
class Reply:
    """An HTTP reply whose envelope was checked."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str]

    @property
    def payload(self) -> Any:
        return self.body["payload"]

    @property
    def message(self) -> str | None:
        message = self.body["message"]
        assert message is None or isinstance(message, str)
        return message

    def ok(self) -> Any:
        """Assert success and return the payload."""
        assert self.status == 200, f"{self.status} {self.body}"
        return self.payload

    def error(self, status: int, message: str) -> None:
        """Assert this failure, exactly."""
        assert (self.status, self.message) == (status, message), f"{self.status} {self.body}"


class Api:
    """A requests-based client of the HTTP API; every reply's envelope is checked."""

    def __init__(
        self,
        base_url: str,
        auth: tuple[str, str] | None = None,
        verify: bool | str = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = auth
        self.session.verify = verify
        self.session.trust_env = False  # no proxies or .netrc credentials from the host

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        data: Any = None,
        params: Any = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
    ) -> Reply:
        kwargs: dict[str, Any] = {"data": data, "params": params, "headers": headers}
        if json_body is not None:
            kwargs["json"] = json_body
        if auth is not None:
            kwargs["auth"] = auth
        resp = self.session.request(method, self.base_url + path, timeout=30, **kwargs)
        body = check_envelope(resp.status_code, resp.headers, resp.content)
        return Reply(resp.status_code, body, resp.headers)

    # Shorthands for the common calls; each asserts success.

    def new_queue(self, name: str | None = None) -> str:
        data = {} if name is None else {"name": name}
        payload = self.call("POST", "/queues", data=data).ok()
        assert isinstance(payload, str), payload
        return payload

    def queues(self) -> list[str]:
        payload = self.call("GET", "/queues").ok()
        assert isinstance(payload, list), payload
        return payload

    def info(self, name: str) -> dict[str, Any]:
        payload = self.call("POST", "/queue", data={"name": name}).ok()
        assert isinstance(payload, dict), payload
        return payload

    def put(self, name: str, value: str, key: str | None = None) -> str:
        data = {"name": name, "value": value}
        if key is not None:
            data["key"] = key
        payload = self.call("POST", "/put", data=data).ok()
        assert isinstance(payload, dict), payload
        assert isinstance(payload.get("id"), str), payload
        item_id: str = payload["id"]
        return item_id

    def take(self, name: str, key: str | None = None) -> Reply:
        data = {"name": name} if key is None else {"name": name, "key": key}
        return self.call("POST", "/take", data=data)

    def peek(self, name: str, key: str | None = None) -> Reply:
        data = {"name": name} if key is None else {"name": name, "key": key}
        return self.call("POST", "/peek", data=data)

    def take_item(self, name: str, key: str | None = None) -> dict[str, Any]:
        payload = self.take(name, key).ok()
        assert isinstance(payload, dict), payload
        return payload

    def drain(self, name: str) -> list[str]:
        """Take every item left; return their values in order."""
        values: list[str] = []
        while True:
            reply = self.take(name)
            if reply.status == 404:
                reply.error(404, "no item to take")
                return values
            values.append(reply.ok()["value"])

    def wait_for_consumers(self, name: str, count: int, timeout: float = 5.0) -> None:
        """Poll `POST /queue` until the queue has `count` pending WebSocket wants."""
        deadline = time.monotonic() + timeout
        while True:
            consumers = self.info(name).get("consumers")
            if consumers == count:
                return
            assert time.monotonic() < deadline, f"consumers stayed {consumers}, wanted {count}"
            time.sleep(0.02)


# --------------------------------------------------------------------------- WebSocket


def ws_url(base_url: str) -> str:
    """The `/take/ws` URL of a listener given by its HTTP base URL."""
    return base_url.replace("https://", "wss://").replace("http://", "ws://") + "/take/ws"


async def recv_json(ws: aiohttp.ClientWebSocketResponse, within: float = 5.0) -> dict[str, Any]:
    """The next text frame (arriving within `within` s), decoded; fail on anything else."""
    msg = await asyncio.wait_for(ws.receive(), within)
    assert msg.type == aiohttp.WSMsgType.TEXT, f"expected a text frame, got {msg!r}"
    data = json.loads(msg.data)
    assert isinstance(data, dict), data
    assert set(data) == {"success", "message", "payload"}, data
    if data["success"] is False:
        check_wire_error(None, data["message"])
    return data


async def recv_error(ws: aiohttp.ClientWebSocketResponse, within: float = 5.0) -> str:
    """The next frame must be a protocol error; return its reason."""
    data = await recv_json(ws, within)
    assert data["success"] is False, data
    assert data["payload"] is None, data
    assert isinstance(data["message"], str), data
    return data["message"]


async def recv_delivery(
    ws: aiohttp.ClientWebSocketResponse, within: float = 5.0
) -> tuple[str, dict[str, Any]]:
    """The next frame must be a delivery; return (want identifier, item)."""
    data = await recv_json(ws, within)
    assert data["success"] is True, data
    assert data["message"] is None, data
    payload = data["payload"]
    assert isinstance(payload, dict), data
    assert isinstance(payload.get("item"), dict), data
    return payload["id"], payload["item"]


async def assert_silent(ws: aiohttp.ClientWebSocketResponse, duration: float = 0.4) -> None:
    """Nothing arrives on `ws` for `duration` seconds."""
    with contextlib.suppress(TimeoutError):
        msg = await asyncio.wait_for(ws.receive(), duration)
        raise AssertionError(f"expected no frame, got {msg!r}")


async def send_want(
    ws: aiohttp.ClientWebSocketResponse, identifier: str, queue: str, key: str | None = None
) -> None:
    want: dict[str, Any] = {"identifier": identifier, "queue": queue}
    if key is not None:
        want["key"] = key
    await ws.send_str(json.dumps(want))


def raw_ws_client(port: int) -> socket.socket:
    """A WebSocket client on a bare socket with a tiny receive buffer, upgraded (the
    server's answer to the upgrade is left unread): a consumer that can stop reading."""
    client = socket.create_connection(("127.0.0.1", port))
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    client.sendall(
        f"GET /take/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    return client


def ws_text_frame(text: str) -> bytes:
    """A masked client text frame (a payload under 126 bytes)."""
    data = text.encode()
    assert len(data) < 126, "this helper writes only the short length form"
    mask = os.urandom(4)
    return (
        bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    )


# --------------------------------------------------------------------------- reliable delivery


def wait_until(check: Any, timeout: float = 2.0, interval: float = 0.02, what: str = "") -> Any:
    """Call `check()` until it returns something truthy (returned) or `timeout` s pass (fail)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {timeout} s: {what or check}"
        time.sleep(interval)


def create_queue(api: Api, name: str | None = None, **settings: Any) -> str:
    """`POST /queues` with settings (lease, max_attempts, dead_letter, max_items); its name."""
    data = {key: str(value) for key, value in settings.items()}
    if name is not None:
        data["name"] = name
    payload = api.call("POST", "/queues", data=data).ok()
    assert isinstance(payload, str), payload
    return payload


def put_item(api: Api, name: str, value: str, key: str | None = None, **options: Any) -> str:
    """`POST /put` with options (delay, ttl, dedup_id); the item id."""
    data = {"name": name, "value": value, **{k: str(v) for k, v in options.items()}}
    if key is not None:
        data["key"] = key
    payload = api.call("POST", "/put", data=data).ok()
    assert isinstance(payload, dict) and isinstance(payload.get("id"), str), payload
    item_id: str = payload["id"]
    return item_id


def take_with(api: Api, name: str, key: str | None = None, **options: Any) -> Reply:
    """`POST /take` with options (lease, wait, count)."""
    data = {"name": name, **{k: str(v) for k, v in options.items()}}
    if key is not None:
        data["key"] = key
    return api.call("POST", "/take", data=data)


def take_leased(api: Api, name: str, lease: float, key: str | None = None) -> dict[str, Any]:
    """A successful leased take; checks the lease fields and returns the item."""
    before = time.time()
    item = take_with(api, name, key, lease=lease).ok()
    after = time.time()
    assert isinstance(item, dict), item
    assert isinstance(item.get("id"), str), item
    assert isinstance(item.get("attempts"), int) and item["attempts"] >= 1, item
    expires = item.get("lease_expires")
    assert isinstance(expires, (int, float)) and not isinstance(expires, bool), item
    assert before + lease - 0.25 <= expires <= after + lease + 0.25, (before, after, item)
    return item


def lease_call(api: Api, op: str, name: str, item_id: str | None, **extra: Any) -> Reply:
    """`POST /ack`, `/release` or `/touch` for one item."""
    data = {"name": name, **{k: str(v) for k, v in extra.items()}}
    if item_id is not None:
        data["id"] = item_id
    return api.call("POST", f"/{op}", data=data)


def take_eventually(
    api: Api, name: str, timeout: float = 2.0, key: str | None = None, **options: Any
) -> dict[str, Any]:
    """Poll `POST /take` (404 `no item to take` meanwhile) until it gives an item."""

    def attempt() -> dict[str, Any] | None:
        reply = take_with(api, name, key, **options)
        if reply.status == 404:
            reply.error(404, "no item to take")
            return None
        item = reply.ok()
        assert isinstance(item, dict), item
        return item

    result: dict[str, Any] = wait_until(attempt, timeout, what=f"an item in {name}")
    return result


async def send_op(
    ws: aiohttp.ClientWebSocketResponse, op: str, identifier: str, queue: str, **fields: Any
) -> None:
    """A WebSocket `op` message (ack, release, touch, put)."""
    await ws.send_str(json.dumps({"op": op, "identifier": identifier, "queue": queue, **fields}))


async def recv_reply(
    ws: aiohttp.ClientWebSocketResponse, identifier: str, within: float = 5.0
) -> dict[str, Any]:
    """The next frame must be the reply to the op `identifier` (no item); return it whole."""
    data = await recv_json(ws, within)
    payload = data["payload"]
    assert isinstance(payload, dict), data
    assert payload.get("id") == identifier, data
    assert "item" not in payload, data
    if data["success"]:
        assert data["message"] is None, data
    else:  # with the HTTP status of the same failure
        assert set(payload) == {"id", "status"}, data
        assert isinstance(payload["status"], int) and 400 <= payload["status"] < 600, data
    return data


def durable_config(kind: str, stack: contextlib.ExitStack) -> dict[str, Any]:  # type: ignore[type-arg]
    """A server configuration on a durable backend: "sqlite" (in the server's folder) or
    "postgres" (a fresh schema, dropped when `stack` closes)."""
    if kind == "sqlite":
        return {"storage": {"type": "sqlite"}}
    from tests import pg

    return {"storage": pg.storage(stack.enter_context(pg.fresh_schema()))}


@contextlib.asynccontextmanager
async def take_ws_stand_in(
    handle: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """A listener whose `/take/ws` is `handle` (a fake or a relay), for the block; its URL."""
    app = web.Application()
    app.router.add_get("/take/ws", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
