"""HTTP Basic authentication on a listener: 401/403, the password file and its reload."""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from .conftest import StartServer
from .helpers import Api, Server, basic, check_envelope, running, ws_url

PASSWORDS = """\
# users of the tests
test:$plain$test

Alice:$plain$S3cret
bob:$plain$pa:ss word
jürgen:$plain$pässwörd
"""

AUTH_CONFIG = {
    "servers": [{"authentication": "default"}],
    "authentication": {"default": {"type": "plaintext", "file": "passwords"}},
    # These tests fail many logins on purpose: no slowdown here (test_security_login.py).
    "limits": {"max_failed_logins": 1_000_000},
}


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A listener requiring the `default` password file above."""
    with running(tmp_path_factory.mktemp("auth"), AUTH_CONFIG, {"passwords": PASSWORDS}) as server:
        yield server


@pytest.fixture
def authed(auth_server: Server) -> Iterator[Api]:
    with Api(auth_server.url, auth=("test", "test")) as client:
        yield client


@pytest.fixture
def anonymous(auth_server: Server) -> Iterator[Api]:
    with Api(auth_server.url) as client:
        yield client


ENDPOINTS = [
    ("GET", "/queues"),
    ("POST", "/queues"),
    ("POST", "/queue"),
    ("DELETE", "/queue"),
    ("POST", "/put"),
    ("POST", "/take"),
    ("POST", "/peek"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_no_credentials(anonymous: Api, authed: Api, method: str, path: str) -> None:
    """Every endpoint without credentials → 401 with WWW-Authenticate, and does nothing."""
    name = authed.new_queue()
    authed.put(name, "untouched")
    before = authed.queues()
    reply = anonymous.call(method, path, data={"name": name, "value": "v"})
    reply.error(401, "authentication required")
    assert reply.headers["WWW-Authenticate"] == 'Basic realm="default"'
    assert authed.queues() == before
    assert authed.info(name)["size"] == 1


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    "credentials",
    [("test", "wrong"), ("nobody", "test"), ("test", "TEST"), ("test", ""), ("", "")],
)
def test_wrong_credentials(
    anonymous: Api, authed: Api, method: str, path: str, credentials: tuple[str, str]
) -> None:
    """Every endpoint with a wrong user or password → 403 invalid credentials, and does nothing."""
    name = authed.new_queue()
    authed.put(name, "untouched")
    before = authed.queues()
    reply = anonymous.call(method, path, data={"name": name, "value": "v"}, auth=credentials)
    reply.error(403, "invalid credentials")
    assert authed.queues() == before
    assert authed.info(name)["size"] == 1


def test_valid_credentials_full_cycle(authed: Api) -> None:
    """With valid credentials every endpoint works."""
    name = authed.new_queue()
    assert name in authed.queues()
    authed.put(name, "v", key="k")
    assert authed.peek(name).ok()["value"] == "v"
    assert authed.take_item(name, key="K")["value"] == "v"
    assert authed.info(name)["name"] == name
    assert authed.call("DELETE", "/queue", data={"name": name}).ok() is None


@pytest.mark.parametrize("user", ["alice", "ALICE", "Alice", "aLiCe"])
def test_username_case_insensitive(auth_server: Server, user: str) -> None:
    """Usernames compare case-insensitively."""
    with Api(auth_server.url, auth=(user, "S3cret")) as client:
        assert isinstance(client.queues(), list)


@pytest.mark.parametrize("password", ["s3cret", "S3CRET", "S3cret ", " S3cret"])
def test_password_case_sensitive(auth_server: Server, password: str) -> None:
    """Passwords compare exactly: case and spaces matter."""
    with Api(auth_server.url, auth=("alice", password)) as client:
        client.call("GET", "/queues").error(403, "invalid credentials")


def test_password_with_colon_and_space(auth_server: Server) -> None:
    """A password may hold ':' and spaces (the user name ends at the first ':')."""
    with Api(auth_server.url, auth=("bob", "pa:ss word")) as client:
        assert isinstance(client.queues(), list)


@pytest.mark.parametrize("user", ["jürgen", "JÜRGEN"])
def test_utf8_credentials(anonymous: Api, user: str) -> None:
    """UTF-8 user names and passwords in the Basic header match the (UTF-8) password file."""
    token = base64.b64encode(f"{user}:pässwörd".encode()).decode()
    reply = anonymous.call("GET", "/queues", headers={"Authorization": f"Basic {token}"})
    assert isinstance(reply.ok(), list)
    token = base64.b64encode(f"{user}:passwort".encode()).decode()
    reply = anonymous.call("GET", "/queues", headers={"Authorization": f"Basic {token}"})
    reply.error(403, "invalid credentials")


@pytest.mark.parametrize("scheme", ["basic", "BASIC"])
def test_auth_scheme_case_insensitive(anonymous: Api, scheme: str) -> None:
    """The `Basic` auth scheme name is matched case-insensitively (RFC 7617)."""
    token = base64.b64encode(b"test:test").decode()
    reply = anonymous.call("GET", "/queues", headers={"Authorization": f"{scheme} {token}"})
    assert isinstance(reply.ok(), list)


def test_comment_line_is_not_a_user(auth_server: Server) -> None:
    """A '# ...' line in the password file does not define a user."""
    with Api(auth_server.url, auth=("# users of the tests", "")) as client:
        client.call("GET", "/queues").error(403, "invalid credentials")


def test_health_needs_no_auth(anonymous: Api) -> None:
    """GET /health answers 200 without credentials on an authenticated listener."""
    assert anonymous.call("GET", "/health").ok()["status"] == "ok"


def test_health_ignores_wrong_auth(anonymous: Api) -> None:
    """GET /health answers 200 even with wrong credentials."""
    assert anonymous.call("GET", "/health", auth=("x", "y")).ok()["status"] == "ok"


def test_auth_checked_before_parameters(anonymous: Api) -> None:
    """A request without credentials and without parameters → 401, not 400."""
    anonymous.call("POST", "/take").error(401, "authentication required")
    anonymous.call("POST", "/put", data={"name": "bad"}).error(401, "authentication required")


def test_malformed_authorization_header(anonymous: Api) -> None:
    """A garbled Basic header is not accepted (401 or 403, never 200)."""
    for header in ("Basic !!!not-base64!!!", "Basic " + "dGVzdA==", "Bearer abc"):
        reply = anonymous.call("GET", "/queues", headers={"Authorization": header})
        assert reply.status in (401, 403), (header, reply.status, reply.body)


async def test_websocket_upgrade_requires_credentials(auth_server: Server) -> None:
    """The WebSocket upgrade without credentials is refused with 401 before upgrading."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(ws_url(auth_server.url))
    assert info.value.status == 401
    assert info.value.headers is not None
    assert info.value.headers["WWW-Authenticate"] == 'Basic realm="default"'


async def test_websocket_upgrade_wrong_credentials(auth_server: Server) -> None:
    """The WebSocket upgrade with wrong credentials is refused with 403."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(
                ws_url(auth_server.url), headers={"Authorization": basic("test", "nope")}
            )
    assert info.value.status == 403


async def test_websocket_refusal_body_is_envelope(auth_server: Server) -> None:
    """A refused upgrade request still answers the JSON envelope."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            auth_server.url + "/take/ws",
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13",
            },
        ) as resp,
    ):
        body = check_envelope(resp.status, resp.headers, await resp.read())
    assert (resp.status, body["message"]) == (401, "authentication required")


async def test_websocket_with_credentials(auth_server: Server, authed: Api) -> None:
    """With valid credentials the WebSocket consumer is served."""
    name = authed.new_queue()
    authed.put(name, "for-ws")
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            ws_url(auth_server.url), headers={"Authorization": basic("ALICE", "S3cret")}
        ) as ws,
    ):
        await ws.send_json({"identifier": "a", "queue": name})
        frame = await ws.receive_json(timeout=5)
    assert frame["payload"]["id"] == "a"
    assert frame["payload"]["item"]["value"] == "for-ws"


# ------------------------------------------------------------ password file changes


def _wait_for_status(url: str, auth: tuple[str, str], status: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    with Api(url, auth=auth) as client:
        while True:
            reply = client.call("GET", "/queues")
            if reply.status == status:
                return
            assert time.monotonic() < deadline, (
                f"{auth[0]} still gets {reply.status} {reply.body}, expected {status}"
            )
            time.sleep(0.1)


def test_password_file_reloaded(start_server: StartServer) -> None:
    """A rewritten password file takes effect without a restart (within ~5 s)."""
    server = start_server(AUTH_CONFIG, files={"passwords": "old:$plain$one\n"})
    _wait_for_status(server.url, ("old", "one"), 200, timeout=0.1)
    _wait_for_status(server.url, ("new", "two"), 403, timeout=0.1)
    (server.directory / "passwords").write_text("# rotated\nnew:$plain$two\n")
    _wait_for_status(server.url, ("new", "two"), 200)
    _wait_for_status(server.url, ("old", "one"), 403, timeout=0.1)
    assert server.proc.poll() is None


def test_password_change_for_existing_user(start_server: StartServer) -> None:
    """Changing a user's password on disk refuses the old one and accepts the new."""
    server = start_server(AUTH_CONFIG, files={"passwords": "user:$plain$first\n"})
    _wait_for_status(server.url, ("user", "first"), 200, timeout=0.1)
    (server.directory / "passwords").write_text("user:$plain$second\n")
    _wait_for_status(server.url, ("user", "second"), 200)
    _wait_for_status(server.url, ("user", "first"), 403, timeout=0.1)


def test_password_file_replaced_by_rename(start_server: StartServer) -> None:
    """A password file replaced atomically (write elsewhere, rename over) is picked up."""
    server = start_server(AUTH_CONFIG, files={"passwords": "before:$plain$x\n"})
    _wait_for_status(server.url, ("before", "x"), 200, timeout=0.1)
    staged = server.directory / "passwords.new"
    staged.write_text("after:$plain$y\n")
    os.replace(staged, server.directory / "passwords")
    _wait_for_status(server.url, ("after", "y"), 200)
    _wait_for_status(server.url, ("before", "x"), 403, timeout=0.1)
    # And a second replacement after that still works.
    staged.write_text("third:$plain$z\n")
    os.replace(staged, server.directory / "passwords")
    _wait_for_status(server.url, ("third", "z"), 200)


def test_malformed_line_skipped(start_server: StartServer) -> None:
    """A malformed password line is logged (file and line) and skipped; other users still work."""
    content = "good:$plain$pw\nthis line has no colon\nother:$plain$pw2\n"
    server = start_server(AUTH_CONFIG, files={"passwords": content})
    _wait_for_status(server.url, ("good", "pw"), 200, timeout=0.1)
    _wait_for_status(server.url, ("other", "pw2"), 200, timeout=0.1)
    _wait_for_status(server.url, ("this line has no colon", ""), 403, timeout=0.1)
    deadline = time.monotonic() + 3
    pattern = re.compile(r"passwords.*\b2\b|\b2\b.*passwords")
    while not any(pattern.search(line) for line in server.output().splitlines()):
        assert time.monotonic() < deadline, (
            f"no log line naming the password file and line 2\n{server.output()}"
        )
        time.sleep(0.1)


def test_realm_is_entry_name(start_server: StartServer) -> None:
    """The 401 realm is the name of the listener's authentication entry."""
    config = {
        "servers": [{"authentication": "staff-only"}],
        "authentication": {"staff-only": {"type": "plaintext", "file": "users.txt"}},
    }
    server = start_server(config, files={"users.txt": "a:$plain$b\n"})
    with Api(server.url) as client:
        reply = client.call("GET", "/queues")
        reply.error(401, "authentication required")
        assert reply.headers["WWW-Authenticate"] == 'Basic realm="staff-only"'
        assert client.call("GET", "/queues", auth=("a", "b")).ok() == []


def test_password_file_path_relative_to_config(start_server: StartServer, tmp_path: Path) -> None:
    """A relative password file path is resolved from the config file's folder, not the cwd."""
    config = {
        "servers": [{"authentication": "default"}],
        "authentication": {"default": {"type": "plaintext", "file": "secrets/pw"}},
    }
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    server = start_server(config, files={"secrets/pw": "rel:$plain$ative\n"}, cwd=elsewhere)
    with Api(server.url, auth=("rel", "ative")) as client:
        assert client.queues() == []
