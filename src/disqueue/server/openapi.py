"""`GET /openapi.json`: the HTTP API of docs/API.md (Part 1, Part 2 and the server's
additions) as an OpenAPI 3.1 document. `tests/e2e/test_openapi.py` keeps it true: every
route of `server/app.py` is in it, and every path in it answers."""

from __future__ import annotations

from typing import Any

from disqueue import wire

Schema = dict[str, Any]

_STRING: Schema = {"type": "string"}
_NUMBER: Schema = {
    "type": ["number", "string"],
    "description": "seconds; a JSON number or a string",
}
_WHOLE: Schema = {"type": ["integer", "string"]}
_FLAG: Schema = {"type": "string", "enum": ["0", "1", "true", "false"]}
_DELAYS: Schema = {
    "oneOf": [
        {"type": "string", "description": "seconds, comma-separated (up to 10)"},
        wire.PROTOCOL["limits"]["parameters"]["retry_delays"],
    ],
}
_QUEUE: Schema = {
    "type": "string",
    "format": "uuid",
    "description": 'the queue\'s name: a UUID (any string under `"queue_names": "any"`)',
}


def _params(required: list[str], **optional: Schema) -> Schema:
    """The request parameters object: form body, JSON body or query string."""
    properties: dict[str, Schema] = {name: _QUEUE if name == "name" else _STRING
                                     for name in required}  # fmt: skip
    properties.update(optional)
    return {"type": "object", "required": required, "properties": properties}


#: `GET /stats?history=<seconds>[&queue=<name>][&fields=a,b]` (API.md, Part 3 additions).
_HISTORY_PARAMS = [
    {"name": name, "in": "query", "required": False, "schema": _STRING, "description": text}
    for name, text in (
        ("history", "Also the server's samples of the last this many seconds"),
        ("queue", "Only this queue's samples"),
        ("fields", "Only these fields (comma-separated)"),
    )
]


def _body(schema: Schema) -> Schema:
    return {
        "required": bool(schema["required"]),
        "description": "Form data (as the original clients send), a JSON object, or the "
        "same names in the query string; the body wins.",
        "content": {
            "application/x-www-form-urlencoded": {"schema": schema},
            "application/json": {"schema": schema},
        },
    }


def _ok(description: str, payload: Schema | None = None) -> Schema:
    envelope: Schema = {"$ref": "#/components/schemas/Success"}
    if payload is not None:
        envelope = {"allOf": [envelope, {"properties": {"payload": payload}}]}
    return {"description": description, "content": {"application/json": {"schema": envelope}}}


def _fails(*statuses: int) -> dict[str, Schema]:
    return {str(status): {"$ref": "#/components/responses/Failure"} for status in statuses}


def _action(summary: str, params: Schema, ok: Schema, *statuses: int) -> Schema:
    return {
        "summary": summary,
        "requestBody": _body(params),
        "responses": {"200": ok, **_fails(400, 401, 403, *statuses)},
    }


def _text(summary: str, media: str, *, auth: bool = True) -> Schema:
    operation: Schema = {
        "summary": summary,
        "responses": {
            "200": {"description": summary, "content": {media: {"schema": _STRING}}},
            **(_fails(401, 403) if auth else {}),
        },
    }
    return operation


_ITEM: Schema = {
    "type": "object",
    "required": ["key", "value"],
    "properties": {
        "key": {"type": ["string", "null"]},
        "value": _STRING,
        "id": _STRING,
        "attempts": {"type": "integer", "description": "leased items only"},
        "lease_expires": {"type": "number", "description": "leased items only (Unix time)"},
        "receipt": {"type": "string", "description": "leased items only: names this delivery"},
        "dead_letter_from": {"type": "string", "description": "dead letters: the queue it left"},
        "headers": {"type": "object", "additionalProperties": _STRING,
                    "description": "the item's headers, when it has any"},
        "priority": {"type": "integer", "description": "the item's priority, when not 0"},
    },
}  # fmt: skip
_HEADERS: Schema = {
    "type": "object",
    "maxProperties": 16,
    "additionalProperties": _STRING,
    "description": "string headers: at most 16, names of 1-128 characters, 8 KiB in all "
    "(a form body sends them as JSON text)",
}
_PRIORITY: Schema = {
    "type": "integer",
    "minimum": 0,
    "maximum": 9,
    "description": "the highest priority is taken first (default 0)",
}
_QUEUE_STATS: Schema = {
    "type": "object",
    "properties": {
        name: {"type": "integer"}
        for name in ("ready", "delayed", "in_flight", "consumers", "put", "taken", "acked",
                     "expired", "dead_lettered")
    } | {"name": _STRING, "oldest_age": {"type": ["number", "null"]}},
}  # fmt: skip
#: A live node of a storage several nodes share (`/stats` on PostgreSQL only).
_NODE: Schema = {
    "type": "object",
    "properties": {"id": _STRING, "host": _STRING, "pid": {"type": "integer"},
                   "started": {"type": "number"}, "last_seen": {"type": "number"},
                   "this": {"type": "boolean"}},
}  # fmt: skip


def _paths() -> dict[str, Schema]:
    name_only = _params(["name"])
    item_options = {"key": _STRING, "delay": _NUMBER, "ttl": _NUMBER, "dedup_id": _STRING,
                    "headers": _HEADERS, "priority": _PRIORITY}  # fmt: skip
    batch: Schema = {
        "type": "array",
        "maxItems": wire.MAX_BATCH,
        "items": _params(["value"], **item_options),
    }
    take = _params(["name"], key=_STRING, lease=_NUMBER, wait=_NUMBER, count=_WHOLE)
    # A lease by `receipt` (or by item `id`, Part 2), or a batch of `receipts` (JSON body).
    leases = {
        "id": _STRING, "receipt": _STRING,
        "receipts": {"type": "array", "maxItems": wire.MAX_BATCH, "items": _STRING},
    }  # fmt: skip
    settled = _ok("null for one lease; `done` and `missing` for a batch", {})
    settings = {
        "lease": _NUMBER,
        "max_attempts": _WHOLE,
        "dead_letter": _QUEUE,
        "max_items": _WHOLE,
        "retry_delays": _DELAYS,
        "delay": _NUMBER,
        "ttl": _NUMBER,
    }
    return {
        "/queues": {
            "get": {"summary": "List the queues, oldest first",
                    "responses": {"200": _ok("queue names", {"type": "array", "items": _STRING}),
                                  **_fails(401, 403)}},
            "post": _action("Create a queue (or return an existing one)",
                            _params([], name=_QUEUE, ordered=_FLAG, **settings),
                            _ok("the queue's name", _STRING), 404, 409, 429),
        },
        "/queue/settings": {"post": _action(
            "Change a queue's settings at once (an empty value clears one)",
            _params(["name"], **settings), _ok("queue information", {"type": "object"}), 404)},
        "/queue": {
            "post": _action("A queue's counts, settings and totals", name_only,
                            _ok("queue information", {"type": "object"}), 404),
            "delete": _action("Delete a queue and its items", name_only, _ok("deleted"), 404),
        },
        "/put": {"post": _action(
            f"Put an item (or, with `items` in a JSON body, up to {wire.MAX_BATCH} at once)",
            _params(["name"], value=_STRING, items=batch, **item_options),
            _ok("the item's id, or `ids` for a batch", {"type": "object"}), 404, 413, 429)},
        "/take": {"post": _action(
            "Take the oldest item (with `key`: the oldest with that key)", take,
            _ok("the item, or an array of items with `count`",
                {"oneOf": [_ITEM, {"type": "array", "items": _ITEM}]}), 404)},
        "/peek": {"post": _action("Look at what take would return", _params(["name"], key=_STRING),
                                  _ok("the item", _ITEM), 404)},
        "/ack": {"post": _action("Acknowledge a leased item (by receipt), or a batch",
                                 _params(["name"], **leases), settled, 404)},
        "/release": {"post": _action("Give a leased item back (after `delay`), or a batch",
                                     _params(["name"], delay=_NUMBER, **leases), settled, 404)},
        "/touch": {"post": _action("Extend a lease, or a batch",
                                   _params(["name", "lease"], **leases),
                                   _ok("the lease's new end", {"type": "object"}), 404)},
        "/purge": {"post": _action(
            "Drop every ready and delayed item (with in_flight=1, those in flight too)",
            _params(["name"], in_flight=_FLAG), _ok("how many", {"type": "object"}), 404)},
        "/redrive": {"post": _action(
            "Send dead letters back (to `to`, or where each came from), oldest first",
            _params(["name"], to=_QUEUE, count=_WHOLE), _ok("how many", {"type": "object"}),
            404)},
        "/pause": {"post": _action("Stop deliveries (puts go on, leases run on)", name_only,
                                   _ok("queue information", {"type": "object"}), 404)},
        "/resume": {"post": _action("Deliver again after a pause", name_only,
                                    _ok("queue information", {"type": "object"}), 404)},
        "/take/ws": {"get": {
            "summary": "WebSocket: send wants (and ops), receive items (API.md)",
            "responses": {"101": {"description": "switching to WebSocket"},
                          **_fails(400, 401, 403)}}},
        "/health": {"get": {
            "summary": "Whether the server and its storage are ready; never needs credentials",
            "security": [],
            "responses": {"200": _ok("ready", {"type": "object"}),
                          "503": {"$ref": "#/components/responses/Failure"}}}},
        "/metrics": {"get": _text("Prometheus metrics", "text/plain")},
        "/stats": {"get": {"summary": "Every queue's counts and totals (what the dashboard polls)",
                           "parameters": _HISTORY_PARAMS,
                           "responses": {"200": _ok("stats", {
                               "type": "object",
                               "properties": {"time": {"type": "number"}, "storage": _STRING,
                                              "queues": {"type": "array", "items": _QUEUE_STATS},
                                              "nodes": {"type": "array", "items": _NODE},
                                              "history": {"type": "object"}},
                           }), **_fails(400, 401, 403)}}},
        "/openapi.json": {"get": _text("This document", "application/json")},
        "/": {"get": _text("The dashboard", "text/html")},
        "/ui": {"get": _text("The dashboard", "text/html")},
        "/ui/dashboard.js": {"get": _text("The dashboard's script", "text/javascript")},
        "/ui/dashboard.css": {"get": _text("The dashboard's style", "text/css")},
        "/ui/favicon.svg": {"get": _text("The dashboard's icon", "image/svg+xml")},
        "/favicon.ico": {"get": _text("The dashboard's icon", "image/svg+xml")},
    }  # fmt: skip


def describe(version: str) -> Schema:
    """The whole document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Disqueue",
            "version": version,
            "description": "Simple distributed queue service. Every JSON answer is the "
            "envelope {success, message, payload}; see docs/API.md.",
        },
        "security": [{}, {"basic": []}],
        "paths": _paths(),
        # The protocol's limits, error messages and WebSocket frames (disqueue/wire.json).
        "x-disqueue-protocol": wire.PROTOCOL,
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "Success": {
                    "type": "object",
                    "required": ["success", "message", "payload"],
                    "properties": {
                        "success": {"const": True},
                        "message": {"type": "null"},
                        "payload": {},
                    },
                },
                "Failure": {
                    "type": "object",
                    "required": ["success", "message", "payload"],
                    "properties": {"success": {"const": False}, "message": _STRING, "payload": {}},
                },
                **wire.frame_schemas(),
            },
            "responses": {
                "Failure": {
                    "description": "the error's status; `message` says what went wrong",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Failure"}}
                    },
                }
            },
        },
    }
