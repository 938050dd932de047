"""The wire protocol as data: `wire.json` beside this module holds the limits, every
error message with its status and meaning, and the WebSocket frames as JSON Schema.

The server takes its parameter ranges and batch limit from it, and `GET /openapi.json`
embeds it (`x-disqueue-protocol`, and the frames under `components.schemas`); the
clients' tests check against the same file, so the numbers and messages are written
down once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: The whole description, as read from wire.json.
PROTOCOL: dict[str, Any] = json.loads(Path(__file__).with_name("wire.json").read_text("utf-8"))

#: Items in one batch put, one counted take, one counted WebSocket want.
MAX_BATCH: int = PROTOCOL["limits"]["batch"]


def ranges() -> dict[str, tuple[float, float, bool, bool]]:
    """Each numeric parameter's (lowest, highest, whether the lowest itself is allowed,
    whole numbers only), from its JSON Schema in `limits.parameters`; for a list of
    numbers (`"type": "array"`), its entries'."""
    found = {}
    for name, schema in PROTOCOL["limits"]["parameters"].items():
        schema = schema.get("items", schema)
        low_included = "minimum" in schema
        low = schema["minimum"] if low_included else schema["exclusiveMinimum"]
        found[name] = (low, schema["maximum"], low_included, schema["type"] == "integer")
    return found


def frame_schemas() -> dict[str, Any]:
    """The WebSocket frames' JSON Schemas by OpenAPI component name (`WebSocketWant`,
    `WebSocketOp`, `WebSocketDelivery`, `WebSocketReply`, `WebSocketError`)."""
    frames = PROTOCOL["websocket"]
    return {
        f"WebSocket{name.title()}": schema
        for side in ("client", "server")
        for name, schema in frames[side].items()
    }


def lengths() -> dict[str, int]:
    """How many numbers each list parameter (`"type": "array"`) holds at most."""
    return {
        name: schema["maxItems"]
        for name, schema in PROTOCOL["limits"]["parameters"].items()
        if schema["type"] == "array"
    }
