"""`AsyncClient.put_many` of more than one batch: the batches go on a WebSocket, several
sent ahead of their answers (`disqueue.client.pipeline`), stored in the order sent; a
failing batch is raised without losing the ones before it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jsonschema
import pytest
from aiohttp import web

from disqueue.client import AsyncClient, errors

from .helpers import REPO, Server, running, take_ws_stand_in

WIRE: dict[str, Any] = json.loads((REPO / "src" / "disqueue" / "wire.json").read_text())
RIGHTS = {"admin": "rwm", "writer": "w", "reader": "r"}
AUTH = {
    "servers": [{"authentication": "default"}],
    "authentication": {
        "default": {
            "type": "plaintext",
            "file": "passwords",
            "permissions": {user: {"*": rights} for user, rights in RIGHTS.items()},
        }
    },
}


async def drain(client: AsyncClient, queue: str) -> list[str]:
    values: list[str] = []
    while batch := await client.take(queue, count=1000):
        values += [item.value for item in batch]
    return values


async def test_batches_are_stored_in_the_order_sent(open_server: Server) -> None:
    """3500 items (four batches, pipelined): every id is answered in put order, and the
    queue gives the values back in that order."""
    values = [f"item-{n}" for n in range(3500)]
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        ids = await client.put_many(queue, values)
        assert len(set(ids)) == 3500
        taken = []
        while batch := await client.take(queue, count=1000):
            taken += batch
        assert [item.value for item in taken] == values
        assert [item.id for item in taken] == ids


async def test_a_failing_batch_keeps_the_batches_before_it(open_server: Server) -> None:
    """An invalid item in the second of three batches: put_many raises that batch's
    error, the first batch is stored whole and in order, nothing of the second is, and
    the third, already sent, is stored whole or not at all."""
    values: list[Any] = [f"v{n}" for n in range(2500)]
    values[1200] = {"value": 1}
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        with pytest.raises(errors.BadRequest) as raised:
            await client.put_many(queue, values)
        assert raised.value.message == "items[200]: parameter 'value' must be a string"
        stored = await drain(client, queue)
    assert stored in (values[:1000], values[:1000] + values[2000:])


async def test_a_missing_queue_is_queue_not_found(open_server: Server) -> None:
    """Batches for a queue that does not exist: QueueNotFound, as over HTTP."""
    async with AsyncClient(open_server.url) as client:
        with pytest.raises(errors.QueueNotFound):
            await client.put_many("00000000-0000-4000-8000-000000000000", ["v"] * 1500)


@pytest.mark.parametrize(("user", "error"), [("writer", None), ("reader", errors.PermissionDenied),
                                             ("stranger", errors.AuthError)])  # fmt: skip
async def test_the_websocket_batches_need_the_write_right(
    tmp_path: Any, user: str, error: type[errors.ClientError] | None
) -> None:
    """With credentials, a writer's batches are stored; a reader's are refused with
    PermissionDenied, and wrong credentials with AuthError, as over HTTP."""
    passwords = "".join(f"{name}:$plain${name}-pw\n" for name in RIGHTS)
    with running(tmp_path, AUTH, {"passwords": passwords}) as server:
        async with AsyncClient(server.url, auth=("admin", "admin-pw")) as admin:
            queue = await admin.create_queue()
            password = "wrong" if user == "stranger" else f"{user}-pw"
            async with AsyncClient(server.url, auth=(user, password)) as client:
                if error is None:
                    assert len(await client.put_many(queue, ["v"] * 1500)) == 1500
                else:
                    with pytest.raises(error):
                        await client.put_many(queue, ["v"] * 1500)
            assert (await admin.info(queue)).size == (1500 if error is None else 0)


async def test_a_consumer_with_credentials(tmp_path: Any) -> None:
    """`consume` on a listener with authentication: the reader's WebSocket carries its
    Basic credentials (no deprecated aiohttp.BasicAuth: warnings fail the tests), and
    wrong ones are refused."""
    passwords = "".join(f"{name}:$plain${name}-pw\n" for name in RIGHTS)
    with running(tmp_path, AUTH, {"passwords": passwords}) as server:
        async with AsyncClient(server.url, auth=("admin", "admin-pw")) as admin:
            queue = await admin.create_queue()
            await admin.put_many(queue, ["a", "b"])
        async with AsyncClient(server.url, auth=("reader", "reader-pw")) as reader:
            got = []
            async for item in reader.consume(queue, lease=30, stop_signals=()):
                got.append(item.value)
                if len(got) == 2:
                    break
        assert got == ["a", "b"]
        async with AsyncClient(server.url, auth=("reader", "wrong")) as stranger:
            with pytest.raises(errors.AuthError):
                async for _ in stranger.consume(queue, lease=30, stop_signals=()):
                    pass


OP = jsonschema.Draft202012Validator(WIRE["websocket"]["client"]["op"])
REPLY = jsonschema.Draft202012Validator(WIRE["websocket"]["server"]["reply"])


class Holding:
    """A /take/ws that answers no put until it holds `expected` of them; a client that
    waits for an answer before it sends the next batch is answered `not pipelined`.
    Every frame is checked against the protocol's schemas."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.received: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        held: list[dict[str, Any]] = []
        while True:
            try:
                frame = await ws.receive(timeout=5 if held else None)
            except TimeoutError:  # the client waits for an answer: it did not send ahead
                for message in held:
                    await ws.send_str(json.dumps(failure(message)))
                held = []
                continue
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            message = json.loads(frame.data)
            OP.validate(message)
            self.received.append(message)
            held.append(message)
            if len(self.received) >= self.expected:
                for message in held:
                    REPLY.validate(answer := stored(message))
                    await ws.send_str(json.dumps(answer))
                held = []
        return ws


def stored(message: dict[str, Any]) -> dict[str, Any]:
    number = message["identifier"]
    ids = [f"{number}-{i}" for i in range(len(message["items"]))]
    return {"success": True, "message": None, "payload": {"id": number, "ids": ids}}


def failure(message: dict[str, Any]) -> dict[str, Any]:
    return {"success": False, "message": "not pipelined", "payload": {"id": message["identifier"]}}


@pytest.fixture
async def holding() -> AsyncIterator[tuple[Holding, str]]:
    fake = Holding(expected=3)
    async with take_ws_stand_in(fake.handle) as url:
        yield fake, url


async def test_batches_are_sent_before_the_answers_to_earlier_ones(
    holding: tuple[Holding, str],
) -> None:
    """Three batches reach the server before it answers the first (a put_many that
    waited would get `not pipelined`); each frame is a put op of the schema with its
    items, and the ids come back in batch order."""
    fake, url = holding
    async with AsyncClient(url) as client:
        ids = await client.put_many("q", [f"v{n}" for n in range(2500)])
    assert [message["identifier"] for message in fake.received] == [0, 1, 2]
    assert [len(message["items"]) for message in fake.received] == [1000, 1000, 500]
    assert fake.received[2]["items"][-1] == {"value": "v2499"}
    assert ids[:2] == ["0-0", "0-1"] and ids[-1] == "2-499" and len(ids) == 2500
