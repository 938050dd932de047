"""Client certificates: `security.client_ca` requires a certificate signed by that CA."""

from __future__ import annotations

import http.client
import ssl

import pytest
import trustme

from .conftest import StartServer
from .helpers import Server, check_envelope

TLS = {"certificate": "cert.pem", "privatekey": "key.pem", "client_ca": "ca.pem"}


@pytest.fixture
def mtls_server(start_server: StartServer, tls_files: dict[str, bytes]) -> Server:
    return start_server({"servers": [{"security": TLS}]}, files=tls_files)


def get_queues(server: Server, context: ssl.SSLContext) -> int:
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), timeout=10, context=context)
    try:
        conn.request("GET", "/queues")
        resp = conn.getresponse()
        check_envelope(resp.status, resp.headers, resp.read())
        return resp.status
    finally:
        conn.close()


def client_context(server_ca: trustme.CA, client_ca: trustme.CA | None) -> ssl.SSLContext:
    """Trusts the server; presents a certificate from `client_ca` (none if None)."""
    context = ssl.create_default_context()
    server_ca.configure_trust(context)
    if client_ca is not None:
        client_ca.issue_cert("client@disqueue.test").configure_cert(context)
    return context


def test_client_certificate_accepted(mtls_server: Server, ca: trustme.CA) -> None:
    """A client with a certificate signed by client_ca is served."""
    assert get_queues(mtls_server, client_context(ca, ca)) == 200


def test_tls_1_2_client_accepted(mtls_server: Server, ca: trustme.CA) -> None:
    """TLS 1.2 is the floor, so a TLS 1.2 client is served."""
    context = client_context(ca, ca)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    assert get_queues(mtls_server, context) == 200


@pytest.mark.parametrize("client_ca", [None, "other"])
def test_client_without_valid_certificate_refused(
    mtls_server: Server, ca: trustme.CA, client_ca: str | None
) -> None:
    """No certificate, or one from another CA: the handshake fails; the server goes on."""
    other = trustme.CA() if client_ca else None
    with pytest.raises((ssl.SSLError, ConnectionError)):
        get_queues(mtls_server, client_context(ca, other))
    assert get_queues(mtls_server, client_context(ca, ca)) == 200
