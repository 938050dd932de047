"""Listeners: TLS (HTTPS and WSS) and several listeners sharing one set of queues."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest
import requests
import trustme

from .conftest import StartServer
from .helpers import Api, Server, basic, recv_delivery, send_want, ws_url

TLS = {"certificate": "cert.pem", "privatekey": "key.pem"}


@pytest.fixture
def tls_server(start_server: StartServer, tls_files: dict[str, bytes]) -> Server:
    """One TLS listener, open."""
    return start_server({"servers": [{"security": TLS}]}, files=tls_files)


def _trusting_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


def test_https(tls_server: Server) -> None:
    """A TLS listener serves the API over HTTPS with a certificate the CA verifies."""
    assert tls_server.url.startswith("https://")
    with Api(tls_server.url, verify=str(tls_server.directory / "ca.pem")) as client:
        name = client.new_queue()
        client.put(name, "secure")
        assert client.take_item(name)["value"] == "secure"


def test_https_localhost_name(tls_server: Server) -> None:
    """The certificate also verifies for the host name `localhost`."""
    url = tls_server.url.replace("127.0.0.1", "localhost")
    with Api(url, verify=str(tls_server.directory / "ca.pem")) as client:
        assert client.call("GET", "/queues").ok() == []


def test_https_untrusted_is_rejected(tls_server: Server) -> None:
    """A client that does not trust the CA fails verification: it really is our certificate."""
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_server.url + "/queues", timeout=5)


def test_plain_http_to_tls_port_fails(tls_server: Server) -> None:
    """Plain HTTP to a TLS listener gets no API answer."""
    plain = tls_server.url.replace("https://", "http://")
    try:
        resp = requests.get(plain + "/queues", timeout=5)
    except requests.exceptions.RequestException:
        return
    assert resp.status_code >= 400
    assert b'"success": true' not in resp.content
    assert b'"success":true' not in resp.content


async def test_wss(tls_server: Server, ca: trustme.CA) -> None:
    """A TLS listener serves WebSocket consumers over WSS."""
    with Api(tls_server.url, verify=str(tls_server.directory / "ca.pem")) as client:
        name = client.new_queue()
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(ws_url(tls_server.url), ssl=_trusting_context(ca)) as ws,
        ):
            assert ws_url(tls_server.url).startswith("wss://")
            await send_want(ws, "tls", name)
            client.wait_for_consumers(name, 1)
            client.put(name, "over-wss")
            identifier, item = await recv_delivery(ws)
    assert (identifier, item["value"]) == ("tls", "over-wss")


def test_cert_paths_relative_to_config(
    start_server: StartServer, tls_files: dict[str, bytes], tmp_path: Path
) -> None:
    """Certificate paths are resolved from the config file's folder, not the cwd."""
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    files = {f"tls/{name}": blob for name, blob in tls_files.items()}
    security = {"certificate": "tls/cert.pem", "privatekey": "tls/key.pem"}
    server = start_server({"servers": [{"security": security}]}, files=files, cwd=elsewhere)
    with Api(server.url, verify=str(server.directory / "tls" / "ca.pem")) as client:
        assert client.call("GET", "/queues").ok() == []


# ------------------------------------------------------------ several listeners


@pytest.fixture
def three_listeners(start_server: StartServer, tls_files: dict[str, bytes]) -> Server:
    """An open listener, an authenticated one and an authenticated TLS one, one server."""
    config = {
        "servers": [
            {},
            {"authentication": "default"},
            {"security": TLS, "authentication": "ops"},
        ],
        "authentication": {
            "default": {"type": "plaintext", "file": "passwords"},
            "ops": {"type": "plaintext", "file": "ops-passwords"},
        },
    }
    files = {
        **tls_files,
        "passwords": "test:$plain$test\n",
        "ops-passwords": "ops:$plain$ops\n",
    }
    return start_server(config, files=files)


def test_listeners_share_queues(three_listeners: Server) -> None:
    """A queue made and filled on one listener is seen and drained on the others."""
    open_url, auth_url, tls_url = three_listeners.urls
    ca_path = str(three_listeners.directory / "ca.pem")
    with (
        Api(open_url) as plain,
        Api(auth_url, auth=("test", "test")) as authed,
        Api(tls_url, auth=("ops", "ops"), verify=ca_path) as secure,
    ):
        name = plain.new_queue()
        assert name in authed.queues()
        assert name in secure.queues()
        plain.put(name, "one")
        authed.put(name, "two")
        secure.put(name, "three")
        assert secure.take_item(name)["value"] == "one"
        assert plain.take_item(name)["value"] == "two"
        assert authed.take_item(name)["value"] == "three"
        secure.call("DELETE", "/queue", data={"name": name}).ok()
        assert name not in plain.queues()


def test_listeners_have_their_own_auth(three_listeners: Server) -> None:
    """Each listener applies its own authentication entry, or none."""
    open_url, auth_url, tls_url = three_listeners.urls
    ca_path = str(three_listeners.directory / "ca.pem")
    with Api(open_url) as plain:
        assert isinstance(plain.queues(), list)
    with Api(auth_url) as anonymous:
        reply = anonymous.call("GET", "/queues")
        reply.error(401, "authentication required")
        assert reply.headers["WWW-Authenticate"] == 'Basic realm="default"'
        anonymous.call("GET", "/queues", auth=("ops", "ops")).error(403, "invalid credentials")
    with Api(tls_url, verify=ca_path) as anonymous:
        reply = anonymous.call("GET", "/queues")
        reply.error(401, "authentication required")
        assert reply.headers["WWW-Authenticate"] == 'Basic realm="ops"'
        anonymous.call("GET", "/queues", auth=("test", "test")).error(403, "invalid credentials")


async def test_ws_on_one_listener_gets_put_from_another(
    three_listeners: Server, ca: trustme.CA
) -> None:
    """A WebSocket want on the TLS listener is handed a put made on the open listener."""
    open_url, _, tls_url = three_listeners.urls
    with Api(open_url) as plain:
        name = plain.new_queue()
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(
                ws_url(tls_url),
                ssl=_trusting_context(ca),
                headers={"Authorization": basic("ops", "ops")},
            ) as ws,
        ):
            await send_want(ws, "cross", name)
            plain.wait_for_consumers(name, 1)
            plain.put(name, "crossed")
            identifier, item = await recv_delivery(ws)
        assert (identifier, item["value"]) == ("cross", "crossed")
        plain.take(name).error(404, "no item to take")
