"""The Python client against the protocol's description (src/disqueue/wire.json): its
batch limit, its error classes for every message of the table, and the WebSocket frames
it sends and reads, recorded on their way to and from the real server and checked
against the frames' JSON Schemas."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jsonschema
import pytest
from aiohttp import web

from disqueue.client import AsyncClient, Client, errors
from disqueue.client.calls import MAX_BATCH

from .helpers import REPO, Server, take_ws_stand_in, ws_url

WIRE: dict[str, Any] = json.loads((REPO / "src" / "disqueue" / "wire.json").read_text())

#: The client's error class for each status of the table (None: WebSocket errors).
BY_STATUS: dict[int | None, type[errors.ClientError]] = {
    400: errors.BadRequest, 401: errors.AuthError, 403: errors.AuthError,
    404: errors.NotFound, 413: errors.TooLarge, 429: errors.TooMany,
    500: errors.ServerError, 503: errors.ServerError,
}  # fmt: skip


def filled(message: str) -> str:
    """A table message with its {placeholders} filled in."""
    return re.sub(r"\{(\w+)\}", lambda found: found[1], message)


def test_batch_limit_is_the_protocols() -> None:
    """put_many's batches are the size the protocol allows."""
    assert WIRE["limits"]["batch"] == MAX_BATCH


@pytest.mark.parametrize("entry", WIRE["errors"], ids=lambda entry: entry["message"])
def test_every_error_of_the_table_has_its_class(entry: dict[str, Any]) -> None:
    """Each message of the table, with its status, becomes an error of the class its
    status means (the WebSocket's, without a status, at least a ClientError)."""
    error = errors.error_for(entry["status"], filled(entry["message"]))
    assert isinstance(error, BY_STATUS.get(entry["status"], errors.ClientError))
    assert (error.status, error.message) == (entry["status"], filled(entry["message"]))


def test_messages_the_client_names_are_in_the_table() -> None:
    """Every message the client maps by its exact text is one the protocol has."""
    table = {entry["message"] for entry in WIRE["errors"]}
    assert set(errors._BY_MESSAGE) <= table, set(errors._BY_MESSAGE) - table


class Relay:
    """A WebSocket relay to the real server's /take/ws that records every frame."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.sent: list[dict[str, Any]] = []  # client → server
        self.received: list[dict[str, Any]] = []  # server → client

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        client = web.WebSocketResponse()
        await client.prepare(request)
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(ws_url(self.target)) as server,
        ):

            async def pump(source: Any, sink: Any, record: list[dict[str, Any]]) -> None:
                async for frame in source:
                    if frame.type != aiohttp.WSMsgType.TEXT:
                        break
                    record.append(json.loads(frame.data))
                    await sink.send_str(frame.data)
                await sink.close()

            await asyncio.gather(
                pump(client, server, self.sent), pump(server, client, self.received)
            )
        return client


@pytest.fixture
async def relay(open_server: Server) -> AsyncIterator[tuple[Relay, str]]:
    """A recording relay in front of the shared server, and its URL."""
    recorder = Relay(open_server.url)
    async with take_ws_stand_in(recorder.handle) as url:
        yield recorder, url


def schema(side: str, name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(WIRE["websocket"][side][name])


async def test_consumer_frames_match_the_schemas(
    open_server: Server, relay: tuple[Relay, str]
) -> None:
    """A leased consume loop (wants with count, acks, a touch, a release, and a want for
    a missing queue): each frame the client sends is a want or an op of the schemas, each
    frame it reads a delivery, a reply or an error."""
    recorder, url = relay
    with Client(open_server.url) as producer:
        queue = producer.create_queue()
        producer.put_many(queue, ["a", "b", "c", "d"])
    async with AsyncClient(url) as client:
        async with client.consume(queue, lease=30, prefetch=2) as items:
            async for item in items:
                if item.value == "b":
                    await item.touch(60)
                if item.value == "c":
                    await item.release()
                if item.value == "d":
                    await item.ack()
                    break
        with pytest.raises(errors.QueueNotFound):
            async for _item in client.consume("00000000-0000-4000-8000-000000000000"):
                pass
    want, op = schema("client", "want"), schema("client", "op")
    ops = set()
    for frame in recorder.sent:
        (op if "op" in frame else want).validate(frame)
        ops.add(frame.get("op", "want"))
    assert ops == {"want", "ack", "touch", "release"}
    kinds = set()
    for frame in recorder.received:
        if not frame["success"]:
            kind = "error"
        elif "item" in frame["payload"]:
            kind = "delivery"
        elif "items" in frame["payload"]:
            kind = "deliveries"
        else:
            kind = "reply"
        schema("server", kind).validate(frame)
        kinds.add(kind)
    # (its wants ask for several items a frame; a single delivery may still come)
    assert kinds - {"delivery"} == {"deliveries", "reply", "error"}
