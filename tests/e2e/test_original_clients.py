"""The original clients, unchanged: their exact request shapes must keep working.

- Python: `requests.request(method, url, data=params, auth=(user, password))` and an
  autobahn asyncio WebSocket client that sends a Basic `Authorization` header on the
  upgrade and a new want after each item it handles.
- TypeScript: node-fetch 2.6.1 with a form-encoded string body (node-fetch then sends
  `Content-Type: text/plain;charset=UTF-8`) or a URLSearchParams body
  (`application/x-www-form-urlencoded;charset=UTF-8`), and `ws` 7.5.2.
- The seed README's curl line.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import shutil
import subprocess
import uuid
import zlib
from base64 import b64encode
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urljoin, urlparse

import pytest
import requests
import websockets
from autobahn.asyncio.websocket import WebSocketClientFactory, WebSocketClientProtocol
from autobahn.websocket.types import ConnectingRequest

from .conftest import StartServer
from .helpers import Api, Server, check_envelope, ws_url

AUTH_CONFIG = {
    "servers": [{"authentication": "default"}],
    "authentication": {"default": {"type": "plaintext", "file": "passwords"}},
}
PASSWORDS = "test:$plain$test\n"
AUTH = ("test", "test")


@pytest.fixture
def server(start_server: StartServer) -> Server:
    """A listener with the user test:test, as in the seed README."""
    return start_server(AUTH_CONFIG, files={"passwords": PASSWORDS})


@pytest.fixture
def checker(server: Server) -> Iterator[Api]:
    """An independent client to check the server's state."""
    with Api(server.url, auth=AUTH) as client:
        yield client


# ------------------------------------------------------------ original Python client


def _py_request(
    url: str, path: str, method: str, params: dict[str, str], auth: Any = AUTH
) -> dict[str, Any]:
    """What the original Python client's `_request` does, plus an envelope check."""
    response = requests.request(method, urljoin(url, path), data=params, auth=auth)
    body = check_envelope(response.status_code, response.headers, response.content)
    # The original client parsed response.text and read these keys.
    protocol = json.loads(response.text)
    assert protocol == body
    return body


def test_python_client_http_calls(server: Server) -> None:
    """Every call of the original Python client's QueueClient works with its request shape."""
    url = server.url
    created = _py_request(url, "/queues", "POST", {})
    assert created["success"] is True
    queue_id = created["payload"]
    assert queue_id in _py_request(url, "/queues", "GET", {})["payload"]
    # QueueClient.info / verify
    assert _py_request(url, "/queue", "POST", {"name": queue_id})["payload"]["name"] == queue_id
    # QueueClient.put(key, value): params {'value': v, 'key': k} then 'name'
    assert _py_request(url, "/put", "POST", {"value": "v1", "key": "k", "name": queue_id})[
        "success"
    ]
    assert _py_request(url, "/put", "POST", {"value": "v2", "name": queue_id})["success"]
    # QueueClient.peek / take with and without key
    peeked = _py_request(url, "/peek", "POST", {"key": "K", "name": queue_id})["payload"]
    assert (peeked["key"], peeked["value"]) == ("k", "v1")
    taken = _py_request(url, "/take", "POST", {"name": queue_id})["payload"]
    assert (taken["key"], taken["value"]) == ("k", "v1")
    taken = _py_request(url, "/take", "POST", {"name": queue_id})["payload"]
    assert (taken["key"], taken["value"]) == (None, "v2")
    missing = _py_request(url, "/take", "POST", {"name": queue_id})
    assert (missing["success"], missing["message"]) == (False, "no item to take")
    # QueueClient.delete
    assert _py_request(url, "/queue", "DELETE", {"name": queue_id})["payload"] is None
    assert queue_id not in _py_request(url, "/queues", "GET", {})["payload"]


def test_python_client_without_auth_is_refused(server: Server) -> None:
    """The original Python client with auth=None gets 'authentication required' to show."""
    body = _py_request(server.url, "/queues", "GET", {}, auth=None)
    assert (body["success"], body["message"]) == (False, "authentication required")


async def test_python_client_autobahn_handler_loop(server: Server, checker: Api) -> None:
    """The original autobahn consumer, re-wanting after each item, gets every item in order."""
    queue_id = await asyncio.to_thread(checker.new_queue)
    for value in ("job-1", "job-2"):
        await asyncio.to_thread(checker.put, queue_id, value, "job")

    loop = asyncio.get_running_loop()
    handled: list[tuple[str | None, str]] = []
    progress = asyncio.Queue[int]()
    closed: asyncio.Future[int | None] = loop.create_future()
    sent_wants: list[dict[str, str]] = []

    def handler(key: str | None, value: str) -> None:
        handled.append((key, value))
        progress.put_nowait(len(handled))

    class DisqueueWebSocketProtocol(WebSocketClientProtocol):
        """As in the original clients/python/src/disqueue/protocol.py (handler inline)."""

        def onConnecting(self, details: Any) -> ConnectingRequest:
            auth = b64encode(":".join(AUTH).encode("utf-8")).decode("utf-8")
            return ConnectingRequest(
                host=self.factory.host,
                port=self.factory.port,
                resource=self.factory.resource,
                headers={"Authorization": f"Basic {auth}"},
            )

        def onOpen(self) -> None:
            self.resend_want()

        def onMessage(self, payload: bytes, isBinary: bool) -> None:
            message = json.loads(payload.decode("utf-8"))
            assert message["success"] is True, message
            identifier = message["payload"]["id"]
            assert identifier == sent_wants[-1]["identifier"]
            item = message["payload"]["item"]
            handler(item["key"], item["value"])
            self.resend_want()

        def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
            if not closed.done():
                closed.set_result(code)

        def resend_want(self) -> None:
            params = {"queue": queue_id, "identifier": str(uuid.uuid4())}
            params.update({"key": "JOB"})
            sent_wants.append(params)
            self.sendMessage(json.dumps(params).encode("utf-8"))

    ws_address = ws_url(server.url)
    parsed = urlparse(server.url)
    factory = WebSocketClientFactory(ws_address)
    factory.protocol = DisqueueWebSocketProtocol
    transport, protocol = await loop.create_connection(factory, parsed.hostname, parsed.port)
    try:
        while len(handled) < 2:
            await asyncio.wait_for(progress.get(), 5)
        await asyncio.to_thread(checker.wait_for_consumers, queue_id, 1)
        await asyncio.to_thread(checker.put, queue_id, "job-3", "job")
        await asyncio.to_thread(checker.put, queue_id, "not-for-me")
        await asyncio.to_thread(checker.put, queue_id, "job-4", "Job")
        await asyncio.to_thread(checker.put, queue_id, "job-5", "JOB")
        while len(handled) < 5:
            await asyncio.wait_for(progress.get(), 5)
        assert handled == [
            ("job", "job-1"),
            ("job", "job-2"),
            ("job", "job-3"),
            ("Job", "job-4"),
            ("JOB", "job-5"),
        ]
        await asyncio.to_thread(checker.wait_for_consumers, queue_id, 1)
        assert await asyncio.to_thread(checker.drain, queue_id) == ["not-for-me"]
    finally:
        protocol.sendClose()
        await asyncio.wait_for(closed, 5)
        transport.close()
    await asyncio.to_thread(checker.wait_for_consumers, queue_id, 0)


async def test_autobahn_wrong_password_refused(server: Server) -> None:
    """The autobahn upgrade with a wrong password is refused: the connection never opens."""
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[str] = loop.create_future()

    class Protocol(WebSocketClientProtocol):
        def onConnecting(self, details: Any) -> ConnectingRequest:
            auth = b64encode(b"test:wrong").decode()
            return ConnectingRequest(
                host=self.factory.host,
                port=self.factory.port,
                resource=self.factory.resource,
                headers={"Authorization": f"Basic {auth}"},
            )

        def onOpen(self) -> None:
            if not outcome.done():
                outcome.set_result("opened")

        def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
            if not outcome.done():
                outcome.set_result(f"closed: {reason}")

    parsed = urlparse(server.url)
    factory = WebSocketClientFactory(ws_url(server.url))
    factory.protocol = Protocol
    transport, _ = await loop.create_connection(factory, parsed.hostname, parsed.port)
    try:
        result = await asyncio.wait_for(outcome, 5)
    finally:
        transport.close()
    assert result.startswith("closed"), result
    assert "403" in result, result


# ------------------------------------------------------------ original TypeScript client

NODE_FETCH_HEADERS = {
    "Accept": "*/*",
    "User-Agent": "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
    "Accept-Encoding": "gzip,deflate",
    "Connection": "close",
}
STRING_BODY = "text/plain;charset=UTF-8"
URL_SEARCH_PARAMS = "application/x-www-form-urlencoded;charset=UTF-8"


def _encode_uri_component(text: str) -> str:
    return quote(text, safe="-_.!~*'()")


def _ts_request(
    server: Server,
    method: str,
    path: str,
    params: dict[str, str],
    content_type: str,
    auth: tuple[str, str] | None = AUTH,
) -> tuple[int, dict[str, Any]]:
    """The bytes node-fetch 2.6.1 sends for the original TypeScript client's `_request`."""
    parsed = urlparse(server.url)
    conn = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        headers = dict(NODE_FETCH_HEADERS)
        body: bytes | None = None
        if method != "GET":
            text = "&".join(
                "=".join(_encode_uri_component(part) for part in entry) for entry in params.items()
            )
            body = text.encode("utf-8")
            headers["Content-Type"] = content_type
            headers["Content-Length"] = str(len(body))
        if auth is not None:
            token = b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        resp = conn.getresponse()
        raw = resp.read()
        encoding = resp.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        return resp.status, check_envelope(resp.status, resp.headers, raw)
    finally:
        conn.close()


@pytest.mark.parametrize(
    "content_type", [STRING_BODY, URL_SEARCH_PARAMS], ids=["string-body", "url-search-params"]
)
def test_typescript_client_http_calls(server: Server, content_type: str) -> None:
    """Every call of the original TypeScript QueueClient works with node-fetch's request shape."""
    status, created = _ts_request(server, "POST", "/queues", {}, content_type)
    assert status == 200
    queue_id = created["payload"]
    status, listed = _ts_request(server, "GET", "/queues", {}, content_type)
    assert queue_id in listed["payload"]
    status, info = _ts_request(server, "POST", "/queue", {"name": queue_id}, content_type)
    assert info["payload"]["name"] == queue_id
    # put(key, value): {key, value, name}, encodeURIComponent (spaces as %20)
    value = "a value & more = 100% ünïcødé"
    for key, val in (("k y", value), (None, "second")):
        params = (
            {"value": val, "name": queue_id}
            if key is None
            else {"key": key, "value": val, "name": queue_id}
        )
        status, put = _ts_request(server, "POST", "/put", params, content_type)
        assert (status, put["success"]) == (200, True), put
    status, peeked = _ts_request(
        server, "POST", "/peek", {"key": "K Y", "name": queue_id}, content_type
    )
    assert (status, peeked["payload"]["key"], peeked["payload"]["value"]) == (200, "k y", value)
    status, taken = _ts_request(server, "POST", "/take", {"name": queue_id}, content_type)
    assert (taken["payload"]["key"], taken["payload"]["value"]) == ("k y", value)
    status, taken = _ts_request(server, "POST", "/take", {"name": queue_id}, content_type)
    assert (taken["payload"]["key"], taken["payload"]["value"]) == (None, "second")
    status, missing = _ts_request(server, "POST", "/take", {"name": queue_id}, content_type)
    assert (status, missing["message"]) == (404, "no item to take")
    status, deleted = _ts_request(server, "DELETE", "/queue", {"name": queue_id}, content_type)
    assert (status, deleted["payload"]) == (200, None)
    status, gone = _ts_request(server, "POST", "/queue", {"name": queue_id}, content_type)
    assert (status, gone["message"]) == (404, "queue does not exist")


def test_typescript_client_without_auth_is_refused(server: Server) -> None:
    """node-fetch without an Authorization header gets 401 authentication required."""
    status, body = _ts_request(server, "GET", "/queues", {}, STRING_BODY, auth=None)
    assert (status, body["message"]) == (401, "authentication required")


async def test_typescript_ws_consumer(server: Server, checker: Api) -> None:
    """The `ws` 7.5.2 handshake and the TypeScript client's wants are served."""
    queue_id = await asyncio.to_thread(checker.new_queue)
    await asyncio.to_thread(checker.put, queue_id, "stored", "k")
    token = b64encode(b"test:test").decode()
    async with websockets.connect(
        ws_url(server.url),
        additional_headers={"Authorization": f"Basic {token}"},
        compression="deflate",  # ws offers permessage-deflate; client_max_window_bits
        proxy=None,
        user_agent_header=None,
    ) as ws:
        # JSON.stringify({queue, identifier, key: undefined}) drops the key.
        first_id = "6f1c0b2e-0000-4000-8000-000000000001"
        await ws.send(json.dumps({"queue": queue_id, "identifier": first_id}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame["success"] is True
        assert frame["payload"]["id"] == first_id
        assert (frame["payload"]["item"]["key"], frame["payload"]["item"]["value"]) == (
            "k",
            "stored",
        )
        second_id = "6f1c0b2e-0000-4000-8000-000000000002"
        await ws.send(json.dumps({"queue": queue_id, "identifier": second_id, "key": "K"}))
        await asyncio.to_thread(checker.wait_for_consumers, queue_id, 1)
        await asyncio.to_thread(checker.put, queue_id, "live", "k")
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame["payload"]["id"] == second_id
        assert frame["payload"]["item"]["value"] == "live"


async def test_typescript_ws_without_auth_is_refused(server: Server) -> None:
    """The `ws` handshake without credentials is refused with 401."""
    with pytest.raises(websockets.InvalidStatus) as info:
        async with websockets.connect(ws_url(server.url), proxy=None):
            pass
    assert info.value.response.status_code == 401


# ------------------------------------------------------------ the seed README's curl line


def test_readme_curl_put(server: Server, checker: Api) -> None:
    """`curl -X POST --data "name=Q&key=key&value=value" --basic --user test:test URL/put` works."""
    curl = shutil.which("curl")
    assert curl, "curl is needed for this test"
    queue_id = checker.new_queue()
    result = subprocess.run(
        [
            curl,
            "-s",
            "-X",
            "POST",
            "--data",
            f"name={queue_id}&key=key&value=value",
            "--basic",
            "--user",
            "test:test",
            f"{server.url}/put",
        ],
        capture_output=True,
        timeout=15,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["success"] is True, body
    assert body["message"] is None
    item = checker.take_item(queue_id)
    assert (item["key"], item["value"]) == ("key", "value")
