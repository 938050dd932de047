"""`disqueue.client.Client` and `AsyncClient`: every method against the real server.

Each scenario runs with both clients: a sync method's result is used as it is, an
async one's awaited (`resolve`), so the two stay the same API.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from disqueue.client import (
    AsyncClient,
    AuthError,
    BadRequest,
    Client,
    ClientError,
    ConnectionFailed,
    Item,
    NoItem,
    NoSuchLease,
    QueueException,
    QueueExists,
    QueueFull,
    QueueInfo,
    QueueNotFound,
)

from .conftest import StartServer
from .helpers import Server, free_port

MISSING = "00000000-0000-4000-8000-000000000000"


async def resolve(value: Any) -> Any:
    """The value of a sync call, or the awaited value of an async one."""
    return await value if inspect.isawaitable(value) else value


async def expect(error: type[ClientError], value: Any) -> ClientError:
    """Calling `value` raises `error` (a sync call at once, an async one when awaited)."""
    with pytest.raises(error) as info:
        await resolve(value())
    return info.value


@pytest.fixture(params=["sync", "async"])
async def client(request: pytest.FixtureRequest, open_server: Server) -> AsyncIterator[Any]:
    """A Client or an AsyncClient of the shared open server."""
    if request.param == "sync":
        with Client(open_server.url) as sync:
            yield sync
    else:
        async with AsyncClient(open_server.url) as aio:
            yield aio


async def test_queues_create_info_delete(client: Any) -> None:
    """create_queue (random, named, with settings), queues, info and delete_queue."""
    random_name = await resolve(client.create_queue())
    named = "6f1c0b2e-0000-4000-8000-00000000abcd"
    assert await resolve(client.create_queue(named)) == named
    dead = await resolve(client.create_queue())
    configured = await resolve(
        client.create_queue(lease=12.5, max_attempts=3, dead_letter=dead, max_items=7)
    )
    names = await resolve(client.queues())
    assert {random_name, named, dead, configured} <= set(names)
    info = await resolve(client.info(configured))
    assert isinstance(info, QueueInfo)
    assert (info.name, info.size, info.in_flight, info.consumers) == (configured, 0, 0, 0)
    assert (info.lease, info.max_attempts, info.dead_letter, info.max_items) == (12.5, 3, dead, 7)
    assert info.created is not None
    await resolve(client.delete_queue(named))
    assert named not in await resolve(client.queues())
    error = await expect(QueueNotFound, lambda: client.info(named))
    assert (error.status, error.message) == (404, "queue does not exist")
    await expect(QueueNotFound, lambda: client.delete_queue(named))
    error = await expect(BadRequest, lambda: client.info("not-a-uuid"))
    assert (error.status, error.message) == (400, "invalid queue id")


async def test_put_take_peek(client: Any) -> None:
    """put (with key and options), peek and take, keyed and not; NoItem when empty."""
    queue = await resolve(client.create_queue())
    first = await resolve(client.put(queue, "v1", "Key"))
    await resolve(client.put(queue, "v2"))
    await resolve(client.put(queue, "later", delay=30))
    dedup = await resolve(client.put(queue, "once", dedup_id="d-1"))
    assert await resolve(client.put(queue, "twice", dedup_id="d-1")) == dedup
    peeked = await resolve(client.peek(queue, "key"))
    assert peeked == Item("v1", "Key", first)
    taken = await resolve(client.take(queue))
    assert (taken.value, taken.key, taken.id) == ("v1", "Key", first)
    assert (await resolve(client.take(queue))).value == "v2"
    assert (await resolve(client.take(queue))).value == "once"
    error = await expect(NoItem, lambda: client.take(queue))
    assert (error.status, error.message) == (404, "no item to take")
    error = await expect(NoItem, lambda: client.peek(queue))
    assert error.message == "no item to peek"
    assert (await resolve(client.info(queue))).delayed == 1
    await expect(QueueNotFound, lambda: client.put(MISSING, "v"))


async def test_put_many_and_take_count(client: Any) -> None:
    """put_many sends batches of 1000 in order; take with count returns lists."""
    queue = await resolve(client.create_queue())
    values = [f"item-{n}" for n in range(2500)]
    ids = await resolve(client.put_many(queue, values))
    assert len(ids) == len(set(ids)) == 2500
    mixed = await resolve(client.put_many(queue, [("a", "k"), {"value": "b", "key": None}]))
    assert len(mixed) == 2
    assert (await resolve(client.info(queue))).size == 2502
    every = {info.name: info for info in await resolve(client.stats())}
    assert (every[queue].size, every[queue].put, every[queue].in_flight) == (2502, 2502, 0)
    batch = await resolve(client.take(queue, count=1000))
    assert [item.value for item in batch] == values[:1000]
    assert all(isinstance(item, Item) for item in batch)
    keyed = await resolve(client.take(queue, "K", count=5))
    assert [(item.value, item.key) for item in keyed] == [("a", "k")]
    await resolve(client.purge(queue))
    assert await resolve(client.take(queue, count=10)) == []
    error = await expect(BadRequest, lambda: client.put_many(queue, [{"value": 1}]))
    assert error.message == "items[0]: parameter 'value' must be a string"


async def test_leases_ack_release_touch(client: Any) -> None:
    """take with lease, then ack, release (with delay) and touch; NoSuchLease after."""
    queue = await resolve(client.create_queue())
    await resolve(client.put_many(queue, ["a", "b"]))
    before = time.time()
    item = await resolve(client.take(queue, lease=30))
    assert (item.value, item.attempts) == ("a", 1)
    assert item.lease_expires is not None and item.lease_expires >= before + 29
    expires = await resolve(client.touch(queue, item.id, 120))
    assert expires >= before + 119
    await resolve(client.release(queue, item.id))
    again = await resolve(client.take(queue, lease=30))
    assert (again.id, again.value, again.attempts) == (item.id, "a", 2)
    await resolve(client.ack(queue, again.id))
    error = await expect(NoSuchLease, lambda: client.ack(queue, again.id))
    assert (error.status, error.message) == (404, "no such lease")
    other = await resolve(client.take(queue, lease=30))
    await resolve(client.release(queue, other.id, delay=30))
    assert (await resolve(client.info(queue))).delayed == 1
    await expect(NoSuchLease, lambda: client.touch(queue, other.id, 10))


async def test_long_poll_and_purge(client: Any) -> None:
    """take with wait answers NoItem after the wait; purge counts what it removed."""
    queue = await resolve(client.create_queue())
    await expect(NoItem, lambda: client.take(queue, wait=0.2))
    await resolve(client.put_many(queue, ["1", "2", "3"]))
    assert (await resolve(client.take(queue, wait=5))).value == "1"
    assert await resolve(client.purge(queue)) == 2
    await expect(QueueNotFound, lambda: client.purge(MISSING))


async def test_retry_delays_pause_and_purge_in_flight(client: Any) -> None:
    """create_queue(retry_delays=...), pause and resume, purge(in_flight=True) on both
    clients: the settings and states show in info, and a pause stops takes."""
    queue = await resolve(client.create_queue(retry_delays=[5, 60]))
    info = await resolve(client.info(queue))
    assert (info.retry_delays, info.paused) == ([5.0, 60.0], False)
    await resolve(client.put_many(queue, ["1", "2"]))
    leased = await resolve(client.take(queue, lease=30))
    assert (await resolve(client.pause(queue))).paused is True
    await expect(NoItem, lambda: client.take(queue))
    assert (await resolve(client.resume(queue))).paused is False
    assert await resolve(client.purge(queue, in_flight=True)) == 2
    await expect(NoSuchLease, lambda: client.ack(queue, leased))
    await expect(QueueNotFound, lambda: client.pause(MISSING))


async def test_queue_defaults_change_settings_and_conflict(client: Any) -> None:
    """create_queue(delay=, ttl=), change_settings (None clears) and QueueExists."""
    queue = await resolve(client.create_queue(delay=600, ttl=60, max_items=5))
    await resolve(client.put(queue, "later"))
    info = await resolve(client.change_settings(queue, delay=None, retry_delays=[3], lease=20))
    assert (info.delay, info.ttl, info.retry_delays, info.lease) == (None, 60, [3.0], 20)
    assert (info.delayed, info.max_items) == (1, 5)
    await resolve(client.put(queue, "now"))
    assert (await resolve(client.take(queue))).value == "now"
    error = await expect(QueueExists, lambda: client.create_queue(queue, max_items=6))
    assert (error.status, str(error)) == (409, "queue exists with other settings")
    with pytest.raises(TypeError):
        await resolve(client.change_settings(queue, ordered=True))


async def test_redrive(client: Any) -> None:
    """A dead letter's dead_letter_from, and redrive (back, or `to` a queue)."""
    letters = await resolve(client.create_queue())
    queue = await resolve(client.create_queue(max_attempts=1, dead_letter=letters))
    await resolve(client.put(queue, "poison"))
    await resolve(client.release(queue, await resolve(client.take(queue, lease=30)), delay=0))
    assert (await resolve(client.peek(letters))).dead_letter_from == queue
    assert await resolve(client.redrive(letters, count=5)) == 1
    assert (await resolve(client.take(queue))).value == "poison"
    assert await resolve(client.redrive(letters, to=queue)) == 0


async def test_headers(client: Any) -> None:
    """`put(headers=)` (sent as a form's JSON text) and batch items' `headers` come back
    as `Item.headers`; bad ones are a `BadRequest`-like 400."""
    queue = await resolve(client.create_queue())
    await resolve(client.put(queue, "h", headers={"trace": "t-1", "é": ""}))
    await resolve(client.put_many(queue, [{"value": "b", "headers": {"n": "2"}}, "plain"]))
    assert (await resolve(client.peek(queue))).headers == {"trace": "t-1", "é": ""}
    taken = await resolve(client.take(queue, count=3, lease=30))
    assert [item.headers for item in taken] == [{"trace": "t-1", "é": ""}, {"n": "2"}, None]
    assert taken[0].to_dict()["headers"] == {"trace": "t-1", "é": ""}
    with pytest.raises(ClientError) as failed:
        await resolve(client.put(queue, "x", headers={"": "v"}))
    assert "invalid parameter 'headers'" in str(failed.value)


async def test_priorities(client: Any) -> None:
    """`put(priority=)` and batch items' `priority`: the highest is taken first, and
    comes back as `Item.priority` (0 when not given)."""
    queue = await resolve(client.create_queue())
    await resolve(client.put(queue, "low"))
    await resolve(client.put(queue, "high", priority=9))
    await resolve(client.put_many(queue, [{"value": "mid", "priority": 4}]))
    taken = await resolve(client.take(queue, count=3))
    assert [(i.value, i.priority) for i in taken] == [("high", 9), ("mid", 4), ("low", 0)]
    assert taken[0].to_dict()["priority"] == 9 and "priority" not in taken[2].to_dict()
    with pytest.raises(ClientError) as failed:
        await resolve(client.put(queue, "x", priority=10))
    assert "invalid parameter 'priority'" in str(failed.value)


async def test_ordered_queues(client: Any) -> None:
    """`create_queue(ordered=True)`: `QueueInfo.ordered`, a group held while its head is
    in flight, a priority refused, a re-create with the same lease the queue, with another
    a `QueueExists`."""
    queue = await resolve(client.create_queue(ordered=True, lease=30))
    assert (await resolve(client.info(queue))).ordered is True
    for value in ("a1", "a2"):
        await resolve(client.put(queue, value, key="a"))
    head = await resolve(client.take(queue))
    await expect(NoItem, lambda: client.take(queue))
    await resolve(client.ack(queue, head))
    assert (await resolve(client.take(queue))).value == "a2"
    with pytest.raises(ClientError) as failed:
        await resolve(client.put(queue, "x", priority=1))
    assert "invalid parameter 'priority'" in str(failed.value)
    # A re-create is compared on the settings it names: the same lease is the queue.
    assert await resolve(client.create_queue(queue, lease=30)) == queue
    await expect(QueueExists, lambda: client.create_queue(queue, lease=5))
    assert (await resolve(client.info(await resolve(client.create_queue())))).ordered is False


async def test_queue_full(start_server: StartServer) -> None:
    """429 queue is full maps to QueueFull, a QueueException."""
    server = start_server()
    async with AsyncClient(server.url) as client:
        queue = await client.create_queue(max_items=1)
        await client.put(queue, "one")
        with pytest.raises(QueueException) as info:
            await client.put(queue, "two")
    assert isinstance(info.value, QueueFull)
    assert (info.value.status, info.value.message) == (429, "queue is full")


def test_auth_from_arguments_and_environment(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials from arguments or DISQUEUE_*; AuthError without or with wrong ones."""
    server = start_server(
        {
            "servers": [{"authentication": "default"}],
            "authentication": {"default": {"type": "plaintext", "file": "passwords"}},
        },
        files={"passwords": "test:$plain$test\n"},
    )
    with Client(server.url, ("test", "test")) as client:
        queue = client.create_queue()
    refusals = [(None, "authentication required"), (("test", "no"), "invalid credentials")]
    for auth, message in refusals:
        with Client(server.url, auth) as client, pytest.raises(AuthError) as info:
            client.queues()
        assert info.value.message == message
    monkeypatch.setenv("DISQUEUE_URL", server.url)
    monkeypatch.setenv("DISQUEUE_USER", "test")
    monkeypatch.setenv("DISQUEUE_PASSWORD", "test")
    with Client() as client:
        assert client.queues() == [queue]


def test_connection_failed() -> None:
    """Nothing listening: ConnectionFailed names the URL."""
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url, timeout=2) as client, pytest.raises(ConnectionFailed) as info:
        client.queues()
    assert url in info.value.message
