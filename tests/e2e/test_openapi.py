"""GET /openapi.json is a valid OpenAPI 3 document that matches the running server:
every route of `server/app.py` is in it, and every operation in it answers."""

from __future__ import annotations

import json

import pytest
import requests
import websockets.sync.client
from openapi_spec_validator import validate

from disqueue.server.app import ROUTES

from .helpers import Api, Server, ws_url

Document = dict[str, dict[str, dict[str, object]]]


@pytest.fixture(scope="module")
def document(open_server: Server) -> Document:
    response = requests.get(f"{open_server.url}/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    spec: Document = response.json()
    return spec


def test_is_valid_openapi(document: Document) -> None:
    """The document passes openapi-spec-validator (OpenAPI 3.1)."""
    validate(document)
    assert str(document["openapi"]).startswith("3.")


def test_every_route_is_described(document: Document) -> None:
    """Every path and method of the app's ROUTES table is an operation in the document."""
    described = {
        (path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    routes = {(path, method) for path, methods in ROUTES.items() for method in methods}
    assert routes - described == set()


def test_every_described_path_answers(document: Document, open_server: Server) -> None:
    """Every operation of the document exists on the server: no 404 `not found` and no
    405 for its path and method (a 404 that names a missing queue or item is an answer)."""
    with Api(open_server.url) as api:
        queue = api.new_queue()
        api.put(queue, "x")
    operations = [(path, method) for path, ops in document["paths"].items() for method in ops]
    operations.sort(key=lambda operation: operation[1] == "delete")  # the queue goes last
    params = {"name": queue, "id": "none", "lease": "1", "value": "v"}
    for path, method in operations:
        if path == "/take/ws":
            requests.post(f"{open_server.url}/put", data=params, timeout=10).raise_for_status()
            with websockets.sync.client.connect(ws_url(open_server.url)) as ws:
                ws.send(json.dumps({"identifier": "w", "queue": queue}))
                assert json.loads(ws.recv(timeout=10))["success"] is True
            continue
        response = requests.request(method.upper(), open_server.url + path, data=params, timeout=10)
        assert response.status_code != 405, (method, path)
        if response.status_code == 404:
            assert response.json()["message"] != "not found", (method, path)
        assert response.status_code < 500, (method, path, response.text)
