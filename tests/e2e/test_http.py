"""HTTP transport: unknown paths, wrong methods, the envelope on them, keep-alive, /health."""

from __future__ import annotations

import http.client
import json

import aiohttp
import pytest

from .helpers import Api, Server, check_envelope


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("POST", "/nope"),
        ("GET", "/queues/extra"),
        ("GET", "/queues/"),
        ("POST", "/QUEUES"),
        ("POST", "/puts"),
        ("DELETE", "/take/ws/more"),
    ],
)
def test_unknown_path(api: Api, method: str, path: str) -> None:
    """An unknown path → 404 not found, in the JSON envelope."""
    api.call(method, path).error(404, "not found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/queues"),
        ("PUT", "/queues"),
        ("OPTIONS", "/queues"),
        ("GET", "/queue"),
        ("PATCH", "/queue"),
        ("GET", "/put"),
        ("PUT", "/put"),
        ("GET", "/take"),
        ("DELETE", "/take"),
        ("GET", "/peek"),
        ("POST", "/take/ws"),
    ],
)
def test_wrong_method(api: Api, method: str, path: str) -> None:
    """A known path with a method it does not serve → 405 method not supported."""
    api.call(method, path).error(405, "method not supported")


def test_wrong_method_does_not_act(api: Api, queue: str) -> None:
    """A put or take sent with the wrong method changes nothing."""
    api.call("GET", "/put", params={"name": queue, "value": "v"}).error(405, "method not supported")
    assert api.info(queue)["size"] == 0
    api.put(queue, "stay")
    api.call("GET", "/take", params={"name": queue}).error(405, "method not supported")
    assert api.info(queue)["size"] == 1


def test_health(api: Api) -> None:
    """GET /health → 200 with status ok in the envelope."""
    payload = api.call("GET", "/health").ok()
    assert payload["status"] == "ok"


def test_keep_alive_one_connection(open_server: Server) -> None:
    """Several requests, of every kind, are served over one kept-alive HTTP/1.1 connection."""
    port = open_server.ports[0]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    try:
        conn.request("POST", "/queues", body="", headers=form)
        resp = conn.getresponse()
        name = check_envelope(resp.status, resp.headers, resp.read())["payload"]
        sock = conn.sock
        assert sock is not None
        requests_ = [
            ("POST", "/put", f"name={name}&value=one"),
            ("POST", "/put", f"name={name}&value=two"),
            ("GET", "/queues", None),
            ("POST", "/nope", None),
            ("POST", "/take", f"name={name}"),
            ("POST", "/take", f"name={name}"),
            ("POST", "/take", f"name={name}"),
        ]
        statuses = []
        values = []
        for method, path, body in requests_:
            conn.request(method, path, body=body, headers=form)
            resp = conn.getresponse()
            envelope = check_envelope(resp.status, resp.headers, resp.read())
            assert not resp.will_close, f"server closed the connection after {method} {path}"
            assert conn.sock is sock, "the client had to reconnect"
            statuses.append(resp.status)
            if path == "/take" and resp.status == 200:
                values.append(envelope["payload"]["value"])
        assert statuses == [200, 200, 200, 404, 200, 200, 404]
        assert values == ["one", "two"]
    finally:
        conn.close()


async def test_keep_alive_aiohttp(open_server: Server) -> None:
    """An aiohttp session opens one connection for many puts and takes."""
    created: list[object] = []

    async def on_created(*args: object) -> None:
        created.append(args)

    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(on_created)
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector, trace_configs=[trace]) as session:
        async with session.post(open_server.url + "/queues") as resp:
            name = (await resp.json())["payload"]
        for i in range(20):
            data = {"name": name, "value": str(i)}
            async with session.post(open_server.url + "/put", data=data) as resp:
                assert resp.status == 200
        got = []
        for _ in range(20):
            async with session.post(open_server.url + "/take", data={"name": name}) as resp:
                body = json.loads(await resp.read())
                got.append(body["payload"]["value"])
    assert got == [str(i) for i in range(20)]
    assert len(created) == 1


@pytest.mark.parametrize("path", ["/queues", "/health"])
def test_head_of_a_get_path(api: Api, path: str) -> None:
    """HEAD of a GET endpoint answers like GET, without a body."""
    response = api.session.head(api.base_url + path, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.content == b""
