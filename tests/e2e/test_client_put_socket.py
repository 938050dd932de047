"""`AsyncClient.put` as a message on a WebSocket of the client's own (client/opsocket.py):
one put at a time there, the others over HTTP; the same answers and errors as HTTP; HTTP
whenever the socket cannot be had; a new socket after the server went away."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from disqueue.client import AsyncClient, Client, ClientError, ConnectionFailed, ServerError
from tests import pg

from .conftest import StartServer
from .helpers import Server, running, wait_until

USERS = {"admin": "rwm", "reader": "r"}
AUTH_CONFIG = {
    "servers": [{"authentication": "default"}],
    "authentication": {
        "default": {
            "type": "plaintext",
            "file": "passwords",
            "permissions": {user: {"*": rights} for user, rights in USERS.items()},
        }
    },
}


def http_puts(server: Server, auth: tuple[str, str] | None = None, route: str = "/put") -> int:
    """How many `POST /put` (requests to `route`) the server has answered (any status),
    from `/metrics`; a `/take/ws` counts once its socket closed."""
    response = requests.get(f"{server.url}/metrics", auth=auth, timeout=10)
    assert response.status_code == 200, response.text
    return sum(
        int(sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "disqueue_http_request_duration_seconds_count"
        and sample.labels.get("route") == route
    )


def websockets(server: Server, auth: tuple[str, str] | None = None) -> int:
    response = requests.get(f"{server.url}/metrics", auth=auth, timeout=10)
    for family in text_string_to_metric_families(response.text):
        if family.name == "disqueue_websocket_connections":
            return int(family.samples[0].value)
    raise AssertionError("no disqueue_websocket_connections in /metrics")


def drain(server: Server, queue: str, auth: tuple[str, str] | None = None) -> list[str]:
    with Client(server.url, auth) as client:
        return [item.value for item in client.take(queue, count=1000)]


async def test_puts_go_on_one_websocket_in_order(open_server: Server) -> None:
    """Puts one after another: no HTTP request, one connection, stored in order."""
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        before = http_puts(open_server)
        ids = [await client.put(queue, f"v{n}", key="k" if n % 2 else None) for n in range(5)]
        assert http_puts(open_server) == before
        assert len(set(ids)) == 5
        items = await client.take(queue, count=10)
        assert [(item.value, item.key, item.id) for item in items] == [
            (f"v{n}", "k" if n % 2 else None, ids[n]) for n in range(5)
        ]
        await client.delete_queue(queue)


async def test_options_travel_as_over_http(open_server: Server) -> None:
    """headers, priority, delay, ttl and dedup_id mean over the socket what they mean over
    HTTP."""
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        first = await client.put(queue, "low", headers={"h": "1"})
        await client.put(queue, "high", priority=9)
        again = await client.put(queue, "dup", dedup_id="d1")
        assert await client.put(queue, "dup", dedup_id="d1") == again
        await client.put(queue, "later", delay=60)
        await client.put(queue, "mortal", ttl=60)
        items = await client.take(queue, count=10)
        assert [item.value for item in items] == ["high", "low", "dup", "mortal"]
        assert items[1].id == first and items[1].headers == {"h": "1"}
        assert (await client.info(queue)).delayed == 1
        await client.delete_queue(queue)


async def test_concurrent_puts_beside_the_socket_go_over_http(open_server: Server) -> None:
    """While one put is on the socket the others go over HTTP (on PostgreSQL a connection's
    messages run one after another): all are stored."""
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        before = http_puts(open_server)
        ids = await asyncio.gather(*(client.put(queue, f"v{n}") for n in range(20)))
        # The first takes the socket before it waits; the 19 others find it busy.
        assert http_puts(open_server) - before == 19
        values = sorted(item.value for item in await client.take(queue, count=100))
        assert values == sorted(f"v{n}" for n in range(20))
        assert len(set(ids)) == 20
        await client.delete_queue(queue)


ERRORS: list[tuple[str, dict[str, Any]]] = [
    ("missing queue", {"value": "v"}),
    ("invalid queue id", {"value": "v"}),
    ("full", {"value": "v"}),
    ("priority", {"value": "v", "priority": 10}),
    ("delay", {"value": "v", "delay": -1}),
    ("headers", {"value": "v", "headers": {"": "x"}}),
    ("value too large", {"value": "x" * 60000}),
]


@pytest.mark.parametrize(("case", "fields"), ERRORS, ids=[case for case, _ in ERRORS])
async def test_errors_are_those_of_http(
    start_server: StartServer, case: str, fields: dict[str, Any]
) -> None:
    """Each refusal raises the class, message and status the same put gets over HTTP (the
    sync Client), and stores nothing."""
    server = start_server({"limits": {"max_value_bytes": 50000}})
    with Client(server.url) as sync:
        queue = sync.create_queue(max_items=1)
        if case == "full":
            sync.put(queue, "first")
        target = {
            "missing queue": "00000000-0000-4000-8000-000000000000",
            "invalid queue id": "not a queue",
        }.get(case, queue)
        with pytest.raises(ClientError) as over_http:
            sync.put(target, **fields)
        async with AsyncClient(server.url) as client:
            before = http_puts(server)
            with pytest.raises(ClientError) as over_socket:
                await client.put(target, **fields)
            assert http_puts(server) == before  # it went on the socket
        assert type(over_socket.value) is type(over_http.value)
        assert over_socket.value.message == over_http.value.message
        assert over_socket.value.status == over_http.value.status
        assert over_http.value.status is not None
        assert sync.info(queue).size == (1 if case == "full" else 0)


async def test_a_value_too_large_for_a_message_goes_over_http(open_server: Server) -> None:
    """A put over 64 KiB goes over HTTP (the socket's messages stay small)."""
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        before = http_puts(open_server)
        await client.put(queue, "x" * 70000)
        assert http_puts(open_server) - before == 1
        assert (await client.take(queue)).value == "x" * 70000
        await client.delete_queue(queue)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    passwords = "".join(f"{user}:$plain${user}-pw\n" for user in USERS)
    folder = tmp_path_factory.mktemp("put-socket-auth")
    with running(folder, AUTH_CONFIG, {"passwords": passwords}) as server:
        yield server


@pytest.mark.parametrize(
    "auth", [None, ("admin", "wrong"), ("reader", "reader-pw")], ids=["none", "wrong", "reader"]
)
async def test_credentials_refused_as_over_http(guarded: Server, auth: Any) -> None:
    """No credentials, wrong ones, or a user without `w`: the error HTTP gives, and
    nothing stored."""
    admin = ("admin", "admin-pw")
    with Client(guarded.url, admin) as sync:
        queue = sync.create_queue()
        with Client(guarded.url, auth) as other, pytest.raises(ClientError) as over_http:
            other.put(queue, "v")
        async with AsyncClient(guarded.url, auth) as client:
            for _ in range(2):  # (the second after the socket was refused, or with it open)
                with pytest.raises(ClientError) as over_socket:
                    await client.put(queue, "v")
                assert type(over_socket.value) is type(over_http.value)
                assert over_socket.value.message == over_http.value.message
                assert over_socket.value.status == over_http.value.status
        assert sync.info(queue).size == 0


async def test_puts_with_credentials_use_the_socket(guarded: Server) -> None:
    admin = ("admin", "admin-pw")
    async with AsyncClient(guarded.url, admin) as client:
        queue = await client.create_queue()
        before = http_puts(guarded, admin)
        await client.put(queue, "one")
        await client.put(queue, "two")
        assert http_puts(guarded, admin) == before
        assert websockets(guarded, admin) == 1
    assert drain(guarded, queue, admin) == ["one", "two"]


async def test_a_new_socket_after_a_restart(start_server: StartServer, tmp_path: Path) -> None:
    """The server stops (its close reaches the socket) and starts again on the same port:
    the next put opens a new socket."""
    server = start_server({"storage": {"type": "sqlite"}}, directory=tmp_path / "node")
    async with AsyncClient(server.url) as client:
        queue = await client.create_queue()
        await client.put(queue, "before")
        server.stop()
        await asyncio.sleep(0.2)  # the loop runs: the close frame reaches the socket
        again = start_server(server.config, directory=tmp_path / "node")
        assert again.url == server.url
        await client.put(queue, "after")
        assert http_puts(again) == 0  # on a socket: a new one
        assert websockets(again) == 1
    assert drain(again, queue) == ["before", "after"]


async def test_a_socket_killed_under_a_put_raises_connection_failed(
    start_server: StartServer, tmp_path: Path
) -> None:
    """kill -9 between puts: the next put fails as an HTTP request to a dead server does,
    and after a restart puts work again (over HTTP until the socket is tried again)."""
    server = start_server({"storage": {"type": "sqlite"}}, directory=tmp_path / "node")
    async with AsyncClient(server.url) as client:
        queue = await client.create_queue()
        await client.put(queue, "kept")
        server.proc.kill()
        server.proc.wait()
        await asyncio.sleep(0.2)
        with pytest.raises(ConnectionFailed):
            await client.put(queue, "lost")
        again = start_server(server.config, directory=tmp_path / "node")
        await client.put(queue, "after")
        assert drain(again, queue) == ["kept", "after"]


async def test_a_put_given_up_on_does_not_answer_the_next(open_server: Server) -> None:
    """A put cancelled after it was sent is answered later; that answer goes to nobody,
    and the next put gets its own (and its id)."""
    async with AsyncClient(open_server.url) as client:
        queue = await client.create_queue()
        await client.put(queue, "opens the socket")
        task = asyncio.create_task(client.put(queue, "given up"))
        await asyncio.sleep(0)  # sent, not answered
        task.cancel()
        # (Cancelled, as a rule; had its answer come within that one pass, it is done.)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        before = http_puts(open_server)
        second = await client.put(queue, "next")
        assert http_puts(open_server) == before  # on the socket
        items = await client.take(queue, count=10)
        by_value = {item.value: item.id for item in items}
        assert by_value["next"] == second  # not the id of "given up"
        assert "given up" in by_value  # (sent: the server stored it)
        await client.delete_queue(queue)


async def _when_there_is_room(call: Any) -> Any:
    """`call()` once the server has closed its side of the readiness probe's connection."""
    for _ in range(250):
        with contextlib.suppress(ServerError):
            return await call()
        await asyncio.sleep(0.02)
    raise AssertionError("the server kept refusing a first connection")


async def test_at_the_connection_limit_put_many_goes_over_http(
    start_server: StartServer,
) -> None:
    """With `max_connections` taken by the client's own HTTP connection, put_many's socket
    is refused (503): its batches go over HTTP on that connection, and every item is
    stored (put_many used to raise ConnectionFailed). A single put then works too (its
    socket may take over the kept-alive connection, or it goes over HTTP)."""
    server = start_server({"limits": {"max_connections": 1}})
    async with AsyncClient(server.url) as client:
        queue = await _when_there_is_room(client.create_queue)  # the one connection
        ids = await client.put_many(queue, [f"v{n}" for n in range(1500)])
        assert len(ids) == 1500
        assert await client.put(queue, "single")
    # (once the client's connections are closed there is room for another)

    def size() -> int | None:
        with Client(server.url) as sync, contextlib.suppress(ServerError):
            return sync.info(queue).size
        return None

    assert wait_until(size, 5.0, what="a connection for info") == 1501


async def test_a_message_over_the_servers_body_limit_gets_the_answer_of_http(
    start_server: StartServer,
) -> None:
    """A server whose `max_body_bytes` is below `MAX_FRAME` closes the socket (1009) at a
    message over it, unread: the put goes over HTTP and raises HTTP's 413, not
    `ConnectionFailed`; such puts then go over HTTP, and the socket stays for the others."""
    server = start_server({"limits": {"max_body_bytes": 10000}})
    with Client(server.url) as sync:
        queue = sync.create_queue()
        with pytest.raises(ClientError) as over_http:
            sync.put(queue, "x" * 20000)
    async with AsyncClient(server.url) as client:
        await client.put(queue, "small")
        for _ in range(2):
            with pytest.raises(ClientError) as over_socket:
                await client.put(queue, "x" * 20000)
            assert type(over_socket.value) is type(over_http.value)
            assert over_socket.value.message == over_http.value.message
            assert over_socket.value.status == over_http.value.status == 413
        before = http_puts(server)
        await client.put(queue, "small again")
        assert http_puts(server) == before  # on the socket
        assert websockets(server) == 1
        # The second large put did not open (and lose) a socket of its own.
        wait_until(lambda: http_puts(server, route="/take/ws") == 1, what="the closed one")
        assert http_puts(server, route="/take/ws") == 1
    assert drain(server, queue) == ["small", "small again"]


@pytest.mark.parametrize("call", ["put", "put_many"])
async def test_wrong_credentials_cost_one_failed_login_a_call(
    start_server: StartServer, call: str
) -> None:
    """A put (or a put_many of several batches, whose socket of its own is refused) with
    a wrong password is one failed login, as over HTTP: the server's throttle
    (`max_failed_logins`) answers 429 only after as many calls as it allows, also to a
    client made for each call."""
    passwords = "".join(f"{user}:$plain${user}-pw\n" for user in USERS)
    config = {**AUTH_CONFIG, "limits": {"max_failed_logins": 3}}
    server = start_server(config, files={"passwords": passwords})
    with Client(server.url, ("admin", "admin-pw")) as sync:
        queue = sync.create_queue()
    statuses = []
    for _ in range(4):
        async with AsyncClient(server.url, ("admin", "wrong")) as client:
            attempt = (
                client.put(queue, "v")
                if call == "put"
                else client.put_many(queue, [f"v{n}" for n in range(1500)])
            )
            with pytest.raises(ClientError) as refused:
                await attempt
            statuses.append((refused.value.status, refused.value.message))
    assert statuses == [(403, "invalid credentials")] * 3 + [(429, "too many failed logins")]


@pytest.mark.parametrize(
    "fields",
    [{"delay": float("nan")}, {"delay": float("inf")}, {"ttl": float("-inf")}, {"ttl": 10**20}],
    ids=["nan", "inf", "-inf", "huge"],
)
async def test_numbers_json_cannot_carry_are_refused_as_over_http(
    start_server: StartServer, fields: dict[str, Any]
) -> None:
    """NaN and infinities (JSON has none: orjson writes null, which would put the item
    without its delay) and integers over 64 bits raise HTTP's BadRequest."""
    server = start_server()
    async with AsyncClient(server.url) as client:
        queue = await client.create_queue()
        await client.put(queue, "opens the socket")
        with Client(server.url) as sync, pytest.raises(ClientError) as over_http:
            sync.put(queue, "v", **fields)
        with pytest.raises(ClientError) as over_socket:
            await client.put(queue, "v", **fields)
        assert type(over_socket.value) is type(over_http.value)
        assert over_socket.value.message == over_http.value.message
        assert over_socket.value.status == over_http.value.status == 400
        assert (await client.info(queue)).size == 1
        await client.delete_queue(queue)


async def _lock_waiters(connection: asyncpg.Connection) -> int:
    count = await connection.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND pid <> pg_backend_pid() AND datname = current_database()"
    )
    return int(count)


async def test_a_put_in_progress_at_shutdown_is_answered_as_over_http(
    start_server: StartServer, tmp_path: Path
) -> None:
    """SIGTERM while a put waits for its commit (here behind a lock on PostgreSQL): the
    server finishes it and answers, over the socket as over HTTP (requests in flight are
    finished), instead of closing (1001) first and leaving a stored put `ConnectionFailed`."""
    with pg.fresh_schema() as schema:
        server = start_server({"storage": pg.storage(schema)})
        blocker = await asyncpg.connect(pg.DSN)
        try:
            async with AsyncClient(server.url) as client:
                queue = await client.create_queue()
                await client.put(queue, "opens the socket")
                hold = blocker.transaction()
                await hold.start()
                await blocker.execute(f'LOCK TABLE "{schema}".items IN EXCLUSIVE MODE')
                over_socket = asyncio.create_task(client.put(queue, "on the socket"))
                with Client(server.url) as sync:
                    over_http = asyncio.create_task(asyncio.to_thread(sync.put, queue, "http"))
                    for _ in range(1000):  # (puts share statements: one may wait for it)
                        if await _lock_waiters(blocker) >= 1:
                            break
                        await asyncio.sleep(0.01)
                    else:
                        raise AssertionError("the puts never reached the database")
                    await asyncio.sleep(0.2)  # both are sent
                    server.proc.send_signal(signal.SIGTERM)
                    for _ in range(1000):
                        if "shutting down" in server.output():
                            break
                        await asyncio.sleep(0.01)
                    await asyncio.sleep(0.3)  # (the 1001 close would be out by now)
                    await hold.rollback()
                    answers = await asyncio.gather(over_http, over_socket, return_exceptions=True)
        finally:
            await blocker.close()
        assert server.stop() == 0
        again = start_server(server.config, directory=tmp_path / "again")
        with Client(again.url) as sync:
            stored = {item.value: item.id for item in sync.take(queue, count=10)}
        assert "on the socket" in stored  # it was stored: its answer must say so
        assert answers == [stored["http"], stored["on the socket"]]


class SilentDrop:
    """A TCP relay to a server whose connections `drop` stops passing anything (left
    open, as after a NAT or firewall forgot them); connections made after pass again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.relay: asyncio.Server | None = None
        self.dropped: list[asyncio.Event] = []
        self.pipes: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        assert self.relay is not None
        return f"http://127.0.0.1:{self.relay.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> SilentDrop:
        self.relay = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.relay is not None
        self.relay.close()
        for pipe in self.pipes:
            pipe.cancel()
        await asyncio.gather(*self.pipes, return_exceptions=True)

    def drop(self) -> None:
        for dropped in self.dropped:
            dropped.set()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        dropped = asyncio.Event()
        self.dropped.append(dropped)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)

        async def pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                if not dropped.is_set():
                    target.write(data)

        pipes = [
            asyncio.create_task(pipe(reader, up_writer)),
            asyncio.create_task(pipe(up_reader, writer)),
        ]
        self.pipes += pipes
        await asyncio.gather(*pipes, return_exceptions=True)
        writer.close()
        up_writer.close()


@pytest.mark.parametrize("given_up", ["timeout", "cancelled"])
async def test_a_socket_that_stopped_answering_is_replaced(
    start_server: StartServer, given_up: str
) -> None:
    """A put with no answer within the client's timeout raises `ConnectionFailed`, as over
    HTTP (or is cancelled by the caller's own); the next put opens a new socket, as HTTP
    takes a new connection for its next request, instead of waiting on the silent one
    again (until TCP gives up, a quarter of an hour later)."""
    server = start_server()
    timeout = 1.0 if given_up == "timeout" else 30.0
    async with (
        SilentDrop(server.ports[0]) as relay,
        AsyncClient(relay.url, timeout=timeout) as client,
    ):
        queue = await client.create_queue()
        await client.put(queue, "before")
        relay.drop()
        with pytest.raises(ConnectionFailed if given_up == "timeout" else TimeoutError):
            await asyncio.wait_for(client.put(queue, "lost"), 2)
        ids = [await asyncio.wait_for(client.put(queue, f"after {n}"), 2) for n in range(2)]
    with Client(server.url) as sync:
        stored = {item.value: item.id for item in sync.take(queue, count=10)}
    assert [stored["after 0"], stored["after 1"]] == ids
    assert "lost" not in stored


async def test_a_socket_gone_silent_while_idle_is_not_used(start_server: StartServer) -> None:
    """The connection goes silent while the client is idle: the next put, 17 s later, is
    stored and answered, as over HTTP (aiohttp takes a new connection after 15 s idle);
    it does not wait on the silent socket and fail."""
    server = start_server()
    async with SilentDrop(server.ports[0]) as relay, AsyncClient(relay.url, timeout=2) as client:
        queue = await client.create_queue()
        await client.put(queue, "before")
        relay.drop()
        await asyncio.sleep(17)
        item_id = await client.put(queue, "after")
    with Client(server.url) as sync:
        assert [item.id for item in sync.take(queue, count=10)][1:] == [item_id]


async def test_put_many_to_a_server_that_never_answers_times_out() -> None:
    """put_many's own socket waits for its upgrade no longer than the client's timeout
    (it used to wait for aiohttp's default of 5 minutes): ConnectionFailed."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # read nothing, answer nothing

    mute = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = mute.sockets[0].getsockname()[1]
    try:
        async with AsyncClient(f"http://127.0.0.1:{port}", timeout=0.5) as client:
            with pytest.raises(ConnectionFailed):
                # (the bound only keeps a regression from hanging the suite)
                await asyncio.wait_for(client.put_many("q", ["v"] * 1500), 30)
    finally:
        for writer in held:
            writer.close()
        mute.close()
        await mute.wait_closed()
