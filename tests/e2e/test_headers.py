"""Headers on items (API.md Part 3 "Headers"): put by JSON body, form (as JSON text),
batch and WebSocket; carried back on every take, peek and delivery, through a lease
end, a dead letter and a redrive; kept across a restart; refused past the limits with
a clear 400. On every backend."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .conftest import StartServer
from .helpers import (
    Api,
    Server,
    create_queue,
    durable_config,
    lease_call,
    recv_delivery,
    recv_reply,
    send_op,
    take_leased,
    ws_url,
)

HEADERS = {"trace-id": "abc-123", "type": "order.créée", "empty": ""}


def _put_json(api: Api, queue: str, **fields: Any) -> Any:
    return api.call("POST", "/put", json_body={"name": queue, "value": "v", **fields})


def test_headers_come_back_on_every_take_and_peek(api: Api, queue: str) -> None:
    """A JSON put's headers are on a peek, a leased take, the take after a release,
    and a plain take; an item without headers has no `headers` field."""
    _put_json(api, queue, headers=HEADERS).ok()
    assert api.peek(queue).ok()["headers"] == HEADERS
    leased = take_leased(api, queue, 30)
    assert leased["headers"] == HEADERS
    lease_call(api, "release", queue, None, receipt=leased["receipt"], delay=0).ok()
    assert api.take_item(queue)["headers"] == HEADERS
    api.put(queue, "plain")
    assert "headers" not in api.take_item(queue)
    _put_json(api, queue, headers={}).ok()  # an empty object is no headers
    assert "headers" not in api.take_item(queue)


def test_form_and_batch_puts_carry_headers(api: Api, queue: str) -> None:
    """A form sends headers as JSON text; batch items each carry their own."""
    form = {"name": queue, "value": "f", "headers": json.dumps({"a": "1"})}
    api.call("POST", "/put", data=form).ok()
    items = [{"value": "b1", "headers": {"n": "1"}}, {"value": "b2"}, {"value": "b3", "key": "k"}]
    api.call("POST", "/put", json_body={"name": queue, "items": items}).ok()
    taken = [api.take_item(queue) for _ in range(4)]
    assert [t.get("headers") for t in taken] == [{"a": "1"}, {"n": "1"}, None, None]


def test_headers_follow_a_dead_letter_and_its_redrive(api: Api) -> None:
    letters = api.new_queue()
    queue = create_queue(api, max_attempts=1, dead_letter=letters)
    _put_json(api, queue, headers={"h": "x"}).ok()
    leased = take_leased(api, queue, 30)
    lease_call(api, "release", queue, None, receipt=leased["receipt"], delay=0).ok()
    assert api.peek(letters).ok()["headers"] == {"h": "x"}
    api.call("POST", "/redrive", data={"name": letters}).ok()
    assert api.take_item(queue)["headers"] == {"h": "x"}


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({f"h{i}": "v" for i in range(17)}, "at most 16 entries"),
        ({"": "v"}, "names must have 1 to 128 characters"),
        ({"n" * 129: "v"}, "names must have 1 to 128 characters"),
        ({"big": "x" * 8190}, "at most 8192 bytes in all"),
        ({"n": 1}, "must be an object of strings"),
        (["n", "v"], "must be an object of strings"),
        ("not json", "must be an object of strings"),
    ],
)
def test_headers_over_the_limits_are_refused(
    api: Api, queue: str, headers: Any, reason: str
) -> None:
    """Each limit has its own message; nothing is stored."""
    _put_json(api, queue, headers=headers).error(400, f"invalid parameter 'headers': {reason}")
    batch = {"name": queue, "items": [{"value": "ok"}, {"value": "v", "headers": headers}]}
    api.call("POST", "/put", json_body=batch).error(
        400, f"items[1]: invalid parameter 'headers': {reason}"
    )
    assert api.info(queue)["size"] == 0


def test_headers_at_the_limits_are_taken(api: Api, queue: str) -> None:
    headers = {f"h{i:02}": "v" for i in range(15)} | {"n" * 128: "x" * (8192 - 15 * 4 - 128)}
    _put_json(api, queue, headers=headers).ok()
    assert api.take_item(queue)["headers"] == headers


async def test_websocket_puts_and_deliveries_carry_headers(
    open_server: Server, api: Api, queue: str, http: aiohttp.ClientSession
) -> None:
    """A WebSocket put takes `headers`; a want's delivery carries them; bad ones are
    the op's error."""
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await send_op(ws, "put", "p", queue, value="w", headers={"via": "ws"})
        assert (await recv_reply(ws, "p"))["success"] is True
        await send_op(ws, "put", "bad", queue, value="w", headers={"": "x"})
        error = json.loads(await ws.receive_str(timeout=5))
        assert error["success"] is False
        assert error["message"] == (
            "invalid parameter 'headers': names must have 1 to 128 characters"
        )
        await ws.send_str(json.dumps({"identifier": "w", "queue": queue, "lease": 30}))
        got, item = await recv_delivery(ws, 5)
        assert (got, item["headers"]) == ("w", {"via": "ws"})


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_headers_survive_a_restart(start_server: StartServer, tmp_path: Path, kind: str) -> None:
    with ExitStack() as stack:
        server = start_server(durable_config(kind, stack), directory=tmp_path / "node")
        with Api(server.url) as api:
            queue = api.new_queue()
            _put_json(api, queue, headers=HEADERS).ok()
            _put_json(api, queue, headers={"second": "2"}).ok()
            take_leased(api, queue, 600)  # in flight across the restart
        server.stop()
        server = start_server(server.config, directory=tmp_path / "node")
        with Api(server.url) as api:
            assert api.take_item(queue)["headers"] == {"second": "2"}
        server.stop()
