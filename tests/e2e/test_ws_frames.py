"""A WebSocket want with `"frames": "batch"` (API.md Part 3): several items a frame."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import jsonschema
import pytest

from .helpers import REPO, Api, Server, recv_delivery, recv_json, ws_url

WIRE: dict[str, Any] = json.loads((REPO / "src" / "disqueue" / "wire.json").read_text())
WANT = jsonschema.Draft202012Validator(WIRE["websocket"]["client"]["want"])
DELIVERIES = jsonschema.Draft202012Validator(WIRE["websocket"]["server"]["deliveries"])


@pytest.mark.parametrize("compress", [0, 15], ids=["plain", "compressed"])
async def test_a_batch_want_gets_its_stored_items_in_one_frame_in_order(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server, compress: int
) -> None:
    """Five stored items for a leased batch want of five come in one frame, in order,
    each a leased item with its receipt; also over a compressed connection (whose
    frames the server writes through aiohttp, not its own buffer)."""
    ids = [api.put(queue, f"v{n}") for n in range(5)]
    want = {"identifier": "b", "queue": queue, "count": 5, "lease": 30, "frames": "batch"}
    WANT.validate(want)
    async with http.ws_connect(ws_url(open_server.url), compress=compress) as ws:
        assert ws.compress == compress
        await ws.send_str(json.dumps(want))
        frame = await recv_json(ws)
    DELIVERIES.validate(frame)
    assert frame["payload"]["id"] == "b"
    items = frame["payload"]["items"]
    assert [item["id"] for item in items] == ids
    assert [item["value"] for item in items] == [f"v{n}" for n in range(5)]
    assert all(item["attempts"] == 1 and item["receipt"] for item in items)


async def test_without_frames_every_item_has_a_frame_of_its_own(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """The same want without `frames` gets one delivery frame an item (Part 1)."""
    for n in range(3):
        api.put(queue, f"v{n}")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        await ws.send_str(json.dumps({"identifier": "s", "queue": queue, "count": 3}))
        values = [(await recv_delivery(ws))[1]["value"] for _ in range(3)]
    assert values == ["v0", "v1", "v2"]


async def test_frames_other_than_batch_are_refused(
    api: Api, queue: str, http: aiohttp.ClientSession, open_server: Server
) -> None:
    """`"frames"` takes "batch" only: another value is an error naming the want, and
    the want takes nothing."""
    api.put(queue, "kept")
    async with http.ws_connect(ws_url(open_server.url)) as ws:
        for frames in ("single", 1, True):
            want = {"identifier": "x", "queue": queue, "frames": frames}
            await ws.send_str(json.dumps(want))
            frame = await recv_json(ws)
            assert frame["success"] is False
            assert frame["message"] == "invalid parameter 'frames'"
            assert frame["payload"] == {"id": "x"}
    assert api.info(queue)["size"] == 1
