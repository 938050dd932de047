"""Strong password hashes over the wire, the `$plain$` warning, and the slowdown of
repeated failed logins from one address."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

import aiohttp
import bcrypt
import pytest

from disqueue.auth.schemes import argon2id_hash

from .conftest import StartServer
from .helpers import Api, Server, basic, check_envelope, running, wait_until, ws_url

AUTH = {
    "servers": [{"authentication": "default"}],
    "authentication": {"default": {"type": "plaintext", "file": "passwords"}},
}
#: passlib's pbkdf2_sha256 of "password" (from its documentation).
PASSLIB = "$pbkdf2-sha256$6400$0ZrzXitFSGltTQnBWOsdAw$Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrnEgY4H9M"


def password_file() -> str:
    return (
        "# one user per scheme\n"
        f"argon:{argon2id_hash('argon-pw')}\n"
        f"crypt:{bcrypt.hashpw(b'crypt-pw', bcrypt.gensalt(rounds=4)).decode()}\n"
        f"kdf:{PASSLIB}\n"
    )


@pytest.fixture(scope="module")
def strong_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A listener whose users have argon2id, bcrypt and PBKDF2-SHA256 hashes."""
    config = {**AUTH, "limits": {"max_failed_logins": 1_000_000}}
    with running(tmp_path_factory.mktemp("strong"), config, {"passwords": password_file()}) as s:
        yield s


@pytest.mark.parametrize(
    ("user", "password"), [("argon", "argon-pw"), ("crypt", "crypt-pw"), ("kdf", "password")]
)
def test_each_scheme_over_http(strong_server: Server, user: str, password: str) -> None:
    """Each strong scheme lets its user in with the right password (twice: the second
    from the cache) and refuses a wrong one with 403."""
    with Api(strong_server.url, auth=(user, password)) as client:
        name = client.new_queue()
        client.put(name, "v")
        assert client.take_item(name)["value"] == "v"
    with Api(strong_server.url, auth=(user, password + "!")) as wrong:
        wrong.call("GET", "/queues").error(403, "invalid credentials")


async def test_strong_scheme_on_websocket(strong_server: Server) -> None:
    """The WebSocket upgrade checks strong hashes too."""
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": basic("argon", "argon-pw")}
        async with session.ws_connect(ws_url(strong_server.url), headers=headers) as ws:
            await ws.send_json({"identifier": "x", "queue": "nope"})
            reply = await ws.receive_json(timeout=5)
        assert reply["message"] == "queue not found"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(
                ws_url(strong_server.url), headers={"Authorization": basic("argon", "x")}
            )
    assert refused.value.status == 403


def test_plain_entries_warned_at_start(start_server: StartServer) -> None:
    """A password file with `$plain$` lines is loaded with a warning naming them."""
    server = start_server(AUTH, files={"passwords": f"kdf:{PASSLIB}\nold:$plain$pw\n"})
    with Api(server.url, auth=("old", "pw")) as client:
        assert client.queues() == []
    assert "line 2: $plain$ password" in server.output()


def test_no_plain_warning_for_strong_file(start_server: StartServer) -> None:
    """No warning when every line is a strong hash."""
    server = start_server(AUTH, files={"passwords": f"kdf:{PASSLIB}\n"})
    with Api(server.url, auth=("kdf", "password")) as client:
        assert client.queues() == []
    assert "$plain$" not in server.output()


# ------------------------------------------------------------ slowdown


def call_from(
    server: Server, source: str, user: str, password: str
) -> tuple[int, dict[str, Any], http.client.HTTPResponse]:
    """`GET /queues` over a connection from the local address `source`."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", "/queues", headers={"Authorization": basic(user, password)})
        resp = conn.getresponse()
        body = check_envelope(resp.status, resp.headers, resp.read())
        return resp.status, body, resp
    finally:
        conn.close()


def test_failed_logins_slow_one_address_only(start_server: StartServer) -> None:
    """After max_failed_logins failures from one address, that address gets 429 (even with
    the right password) with Retry-After; another address still logs in; once the window
    has passed, the first address logs in again."""
    config = {**AUTH, "limits": {"max_failed_logins": 3, "failed_login_window": 3}}
    server = start_server(config, files={"passwords": f"kdf:{PASSLIB}\n"})
    for _ in range(3):
        status, body, _ = call_from(server, "127.0.0.1", "kdf", "guess")
        assert (status, body["message"]) == (403, "invalid credentials")
    status, body, resp = call_from(server, "127.0.0.1", "kdf", "password")
    assert (status, body["message"]) == (429, "too many failed logins")
    assert 1 <= int(resp.headers["Retry-After"]) <= 3
    # The real user, elsewhere, is not locked out; a guess from there is a plain 403.
    assert call_from(server, "127.0.0.2", "kdf", "password")[0] == 200
    assert call_from(server, "127.0.0.2", "kdf", "guess")[0] == 403
    assert call_from(server, "127.0.0.2", "kdf", "password")[0] == 200
    wait_until(
        lambda: call_from(server, "127.0.0.1", "kdf", "password")[0] == 200,
        timeout=10,
        interval=0.5,
        what="the first address let in again after the window",
    )


def test_missing_credentials_are_not_failures(start_server: StartServer) -> None:
    """Requests without credentials (401) do not count as failed logins."""
    config = {**AUTH, "limits": {"max_failed_logins": 1}}
    server = start_server(config, files={"passwords": f"kdf:{PASSLIB}\n"})
    with Api(server.url) as anonymous:
        for _ in range(5):
            anonymous.call("GET", "/queues").error(401, "authentication required")
    assert call_from(server, "127.0.0.1", "kdf", "password")[0] == 200
