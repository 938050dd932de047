"""The protocol's description as data (src/disqueue/wire.json) against the real server:
it is what /openapi.json embeds, its limits are where the server draws the line, and
every error the server answers is in its table with the status it says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from disqueue import errors

from .helpers import REPO, Api, Server

WIRE: dict[str, Any] = json.loads((REPO / "src" / "disqueue" / "wire.json").read_text())


def entry_for(message: str) -> dict[str, Any] | None:
    """The error table's entry whose message (with {placeholders}) matches `message`."""
    for entry in WIRE["errors"]:
        pattern = re.sub(r"\\\{\w+\\\}", ".+", re.escape(entry["message"]))
        if re.fullmatch(pattern, message):
            return entry
    return None


def test_openapi_embeds_the_description(open_server: Server) -> None:
    """GET /openapi.json carries wire.json whole and the WebSocket frames as schemas."""
    document = requests.get(f"{open_server.url}/openapi.json", timeout=10).json()
    assert document["x-disqueue-protocol"] == WIRE
    schemas = document["components"]["schemas"]
    assert schemas["WebSocketWant"] == WIRE["websocket"]["client"]["want"]
    assert schemas["WebSocketError"] == WIRE["websocket"]["server"]["error"]
    for schema in [*WIRE["websocket"]["client"].values(), *WIRE["websocket"]["server"].values()]:
        jsonschema.Draft202012Validator.check_schema(schema)


def test_every_error_class_is_in_the_table() -> None:
    """Each of the server's error classes answers a message and status of the table."""
    made = [kind() for kind in _request_errors() if kind.__init__ is errors.DisqueueError.__init__]
    made += [errors.MissingParameter("value"), errors.InvalidParameter("lease"),
             errors.NoItem("take"), errors.NoItem("peek"), errors.TooManyLogins(5)]  # fmt: skip
    for error in made:
        entry = entry_for(error.message)
        assert entry is not None, error.message
        assert entry["status"] == error.status, error.message


def _request_errors() -> list[type[errors.DisqueueError]]:
    found: list[type[errors.DisqueueError]] = [errors.DisqueueError]
    for kind in found:
        found.extend(sub for sub in kind.__subclasses__() if sub is not errors.ConfigError)
    return found


@pytest.mark.parametrize("name", sorted(WIRE["limits"]["parameters"]))
def test_parameter_limits_are_where_the_server_draws_the_line(api: Api, name: str) -> None:
    """A parameter at its highest allowed value is accepted, just over it is refused
    `invalid parameter '<name>'` (a take, a put or a queue's creation carries it)."""
    schema = WIRE["limits"]["parameters"][name]
    listed = schema["type"] == "array"  # a list of numbers: its entries' range, its length
    entry = schema["items"] if listed else schema
    high = entry["maximum"]
    over = high + 1 if entry["type"] == "integer" else high + 0.5
    queue = api.new_queue()
    where = {"max_attempts": "/queues", "max_items": "/queues", "retry_delays": "/queues",
             "delay": "/put", "ttl": "/put", "priority": "/put"}  # fmt: skip
    path = where.get(name, "/take")
    cases: list[tuple[Any, bool]] = [(high, True), (over, False)]
    if listed:
        most = schema["maxItems"]
        cases = [(",".join([str(high)] * most), True), (f"1,{over}", False),
                 (",".join(["1"] * (most + 1)), False), ("1,-1", False)]  # fmt: skip
    for value, accepted in cases:
        # (a long poll of the highest wait would wait that long: 0 stands for it)
        data = {"name": queue, name: str(0 if accepted and name == "wait" else value)}
        if path == "/put":
            data["value"] = "v"
        if path == "/queues":
            del data["name"]  # a new queue each time
        reply = api.call("POST", path, data=data)
        if accepted:
            assert reply.status in (200, 404), (name, reply.status, reply.message)
        else:
            reply.error(400, f"invalid parameter '{name}'")


def test_batch_limit(api: Api) -> None:
    """A batch of limits.batch items is stored; one more is refused."""
    queue = api.new_queue()
    limit = WIRE["limits"]["batch"]
    for size, status in ((limit, 200), (limit + 1, 400)):
        items = [{"value": str(n)} for n in range(size)]
        reply = api.call("POST", "/put", json_body={"name": queue, "items": items})
        assert reply.status == status


def test_errors_the_server_answers_are_in_the_table(
    api: Api, open_server: Server, tmp_path: Path
) -> None:
    """A string of failing requests: each answer's message is in the table, with the
    status the table gives it."""
    queue = api.new_queue()
    missing = "00000000-0000-4000-8000-000000000000"
    answers = [
        api.call("POST", "/put", data={"name": "not-a-uuid", "value": "v"}),
        api.call("POST", "/put", data={"name": queue}),
        api.call("POST", "/take", data={"name": queue, "lease": "-1"}),
        api.call("POST", "/put", json_body={"name": queue, "items": [{"value": 5}]}),
        api.call("POST", "/take", data={"name": missing}),
        api.call("POST", "/take", data={"name": queue}),
        api.call("POST", "/peek", data={"name": queue}),
        api.call("POST", "/ack", data={"name": queue, "id": "nope"}),
        api.call("POST", "/queues", data={"dead_letter": missing}),
        api.call("GET", "/nowhere"),
        api.call("PATCH", "/put"),
        api.call("POST", "/put", data={"name": queue, "value": "x" * (2 * 1024 * 1024)}),
    ]
    for reply in answers:
        entry = entry_for(reply.message or "")
        assert entry is not None, reply.message
        assert entry["status"] == reply.status, (reply.message, reply.status)
