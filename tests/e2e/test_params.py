"""Where parameters come from: form body, query string, JSON body; and their encoding."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from .helpers import Api

UNICODE = "héllo wörld — 日本語 🚀 \u00a0"


def test_form_body(api: Api, queue: str) -> None:
    """An application/x-www-form-urlencoded body carries the parameters."""
    body = urlencode({"name": queue, "value": "formed", "key": "k"})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    api.call("POST", "/put", data=body, headers=headers).ok()
    assert api.take_item(queue, key="k")["value"] == "formed"


def test_form_body_with_charset(api: Api, queue: str) -> None:
    """A form body with `;charset=UTF-8` in its Content-Type is read, UTF-8 included."""
    body = urlencode({"name": queue, "value": UNICODE, "key": "ключ"})
    headers = {"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"}
    api.call("POST", "/put", data=body.encode(), headers=headers).ok()
    item = api.take_item(queue)
    assert (item["key"], item["value"]) == ("ключ", UNICODE)


def test_query_string(api: Api, queue: str) -> None:
    """Parameters in the query string work without a body."""
    api.call("POST", "/put", params={"name": queue, "value": "queried", "key": "q"}).ok()
    reply = api.call("POST", "/peek", params={"name": queue, "key": "Q"})
    assert reply.ok()["value"] == "queried"
    reply = api.call("POST", "/take", params={"name": queue})
    assert reply.ok()["value"] == "queried"


def test_query_string_for_queue_info_and_delete(api: Api, queue: str) -> None:
    """POST /queue and DELETE /queue read the name from the query string."""
    assert api.call("POST", "/queue", params={"name": queue}).ok()["name"] == queue
    assert api.call("DELETE", "/queue", params={"name": queue}).ok() is None
    assert queue not in api.queues()


def test_json_body(api: Api, queue: str) -> None:
    """A JSON object body (application/json) carries the parameters."""
    reply = api.call("POST", "/put", json_body={"name": queue, "value": "jsoned", "key": "j"})
    assert isinstance(reply.ok()["id"], str)
    item = api.call("POST", "/take", json_body={"name": queue, "key": "J"}).ok()
    assert (item["key"], item["value"]) == ("j", "jsoned")


def test_json_body_create_queue(api: Api) -> None:
    """POST /queues accepts its optional name in a JSON body."""
    name = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert api.call("POST", "/queues", json_body={"name": name.upper()}).ok() == name
    assert name in api.queues()


def test_form_body_wins_over_query(api: Api) -> None:
    """With the same parameter in form body and query string, the body's is used."""
    body_queue, query_queue = api.new_queue(), api.new_queue()
    api.call(
        "POST",
        "/put",
        params={"name": query_queue, "value": "from-query"},
        data={"name": body_queue, "value": "from-body"},
    ).ok()
    assert api.take_item(body_queue)["value"] == "from-body"
    api.take(query_queue).error(404, "no item to take")


def test_json_body_wins_over_query(api: Api) -> None:
    """With the same parameter in JSON body and query string, the body's is used."""
    body_queue, query_queue = api.new_queue(), api.new_queue()
    api.call(
        "POST",
        "/put",
        params={"name": query_queue, "value": "from-query"},
        json_body={"name": body_queue, "value": "from-body"},
    ).ok()
    assert api.take_item(body_queue)["value"] == "from-body"
    api.take(query_queue).error(404, "no item to take")


def test_body_and_query_merge(api: Api, queue: str) -> None:
    """Parameters only in the query string still count when the body has others."""
    api.call("POST", "/put", params={"name": queue}, data={"value": "merged"}).ok()
    assert api.take_item(queue)["value"] == "merged"


@pytest.mark.parametrize("body", ["{not json", '{"name": ', "\xff\xfe"])
def test_invalid_json_body(api: Api, queue: str, body: str) -> None:
    """A body declared as JSON that does not parse → 400 invalid request body."""
    api.call(
        "POST",
        "/put",
        params={"name": queue, "value": "q"},
        data=body.encode("latin-1"),
        headers={"Content-Type": "application/json"},
    ).error(400, "invalid request body")
    assert api.info(queue)["size"] == 0


@pytest.mark.parametrize("body", ["[1, 2]", '"string"', "42", "null", "true"])
def test_json_body_not_an_object(api: Api, queue: str, body: str) -> None:
    """A JSON body that is not an object → 400 invalid request body."""
    api.call(
        "POST",
        "/put",
        params={"name": queue, "value": "q"},
        data=body,
        headers={"Content-Type": "application/json"},
    ).error(400, "invalid request body")
    assert api.info(queue)["size"] == 0


@pytest.mark.parametrize("value", [42, 1.5, True, ["a"], {"a": "b"}])
def test_json_value_not_a_string(api: Api, queue: str, value: object) -> None:
    """A JSON `value` that is not a string → 400 parameter 'value' must be a string."""
    api.call("POST", "/put", json_body={"name": queue, "value": value}).error(
        400, "parameter 'value' must be a string"
    )
    assert api.info(queue)["size"] == 0


def test_json_null_value_is_refused(api: Api, queue: str) -> None:
    """A JSON `value` of null → 400 (never stored as an item); the message names 'value'."""
    reply = api.call("POST", "/put", json_body={"name": queue, "value": None})
    assert reply.status == 400, reply.body
    assert "'value'" in (reply.message or ""), reply.body
    assert api.info(queue)["size"] == 0


@pytest.mark.parametrize("param", ["name", "key"])
def test_json_other_param_not_a_string(api: Api, queue: str, param: str) -> None:
    """A non-string JSON parameter is refused with that parameter's name in the message."""
    body: dict[str, object] = {"name": queue, "value": "v", "key": "k"}
    body[param] = 7
    api.call("POST", "/put", json_body=body).error(400, f"parameter '{param}' must be a string")
    assert api.info(queue)["size"] == 0


def test_json_body_with_charset(api: Api, queue: str) -> None:
    """`application/json; charset=utf-8` is read as JSON, UTF-8 included."""
    body = json.dumps({"name": queue, "value": UNICODE}, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    api.call("POST", "/put", data=body, headers=headers).ok()
    assert api.take_item(queue)["value"] == UNICODE


@pytest.mark.parametrize("how", ["form", "query", "json"])
def test_unicode_round_trip(api: Api, queue: str, how: str) -> None:
    """Non-ASCII values and keys round-trip through every parameter source."""
    params = {"name": queue, "value": UNICODE, "key": "clé-🔑"}
    if how == "form":
        api.call("POST", "/put", data=params).ok()
    elif how == "query":
        api.call("POST", "/put", params=params).ok()
    else:
        api.call("POST", "/put", json_body=params).ok()
    item = api.take_item(queue, key="clé-🔑")
    assert (item["key"], item["value"]) == ("clé-🔑", UNICODE)


def test_response_is_utf8_json(api: Api, queue: str) -> None:
    """The take response body is valid UTF-8 JSON carrying the exact characters."""
    api.put(queue, UNICODE)
    reply = api.session.post(api.base_url + "/take", data={"name": queue}, timeout=10)
    assert json.loads(reply.content.decode("utf-8"))["payload"]["value"] == UNICODE


def test_chunked_form_body(api: Api, queue: str) -> None:
    """A form body sent chunked (no Content-Length) is read whole."""

    def chunks() -> Iterator[bytes]:
        yield f"name={queue}&val".encode()
        yield b"ue=chun"
        yield b"ked&key=c"

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    api.call("POST", "/put", data=chunks(), headers=headers).ok()
    item = api.take_item(queue)
    assert (item["key"], item["value"]) == ("c", "chunked")
