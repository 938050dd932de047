"""Permissions per user and queue (CONFIG.md `permissions`): every endpoint and every
WebSocket op needs its right, 403 `permission denied` otherwise, and nothing changes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import requests

from .helpers import Api, Server, basic, recv_json, running, ws_url

#: A queue the `mixed` user may only read, and one every unlisted user may read.
READ_ONLY = str(uuid.UUID(int=1, version=4))
PUBLIC = str(uuid.UUID(int=2, version=4))

RIGHTS = {"admin": "rwm", "reader": "r", "writer": "w", "manager": "m"}
CONFIG = {
    "servers": [{"authentication": "default"}],
    "authentication": {
        "default": {
            "type": "plaintext",
            "file": "passwords",
            "permissions": {
                **{user: {"*": rights} for user, rights in RIGHTS.items()},
                "Mixed": {"*": "rw", READ_ONLY.upper(): "r"},
                "*": {PUBLIC: "r"},
            },
        }
    },
}
USERS = [*RIGHTS, "mixed", "stranger"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    passwords = "".join(f"{user}:$plain${user}-pw\n" for user in USERS)
    with running(tmp_path_factory.mktemp("perms"), CONFIG, {"passwords": passwords}) as s:
        yield s


def client(server: Server, user: str) -> Api:
    return Api(server.url, auth=(user, f"{user}-pw"))


@pytest.fixture
def admin(server: Server) -> Iterator[Api]:
    with client(server, "admin") as api:
        yield api


#: method, path, the right it needs, extra parameters
ENDPOINTS: list[tuple[str, str, str, dict[str, str]]] = [
    ("POST", "/queue", "r", {}),
    ("DELETE", "/queue", "m", {}),
    ("POST", "/put", "w", {"value": "new"}),
    ("POST", "/take", "r", {}),
    ("POST", "/peek", "r", {}),
    ("POST", "/ack", "r", {"id": "1"}),
    ("POST", "/release", "r", {"id": "1"}),
    ("POST", "/touch", "r", {"id": "1", "lease": "5"}),
    ("POST", "/purge", "m", {}),
]


@pytest.mark.parametrize("user", ["reader", "writer", "manager"])
@pytest.mark.parametrize(("method", "path", "right", "extra"), ENDPOINTS)
def test_every_endpoint_needs_its_right(
    server: Server,
    admin: Api,
    user: str,
    method: str,
    path: str,
    right: str,
    extra: dict[str, str],
) -> None:
    """With the right, the request is served (whatever its answer); without it → 403
    `permission denied` and the queue is untouched."""
    name = admin.new_queue()
    admin.put(name, "kept")
    with client(server, user) as api:
        reply = api.call(method, path, data={"name": name, **extra})
    if right in RIGHTS[user]:
        assert reply.status != 403, reply.body
    else:
        reply.error(403, "permission denied")
        assert admin.info(name)["size"] == 1
        assert admin.peek(name).ok()["value"] == "kept"


@pytest.mark.parametrize("user", ["reader", "writer", "manager", "admin"])
def test_create_needs_manage(server: Server, admin: Api, user: str) -> None:
    """`POST /queues`, named or not, needs `m`."""
    name = str(uuid.uuid4())
    with client(server, user) as api:
        named = api.call("POST", "/queues", data={"name": name})
        unnamed = api.call("POST", "/queues")
    if "m" in RIGHTS[user]:
        assert named.ok() == name
        assert isinstance(unnamed.ok(), str)
    else:
        named.error(403, "permission denied")
        unnamed.error(403, "permission denied")
        assert name not in admin.queues()


def test_dead_letter_needs_write_on_it(server: Server, admin: Api) -> None:
    """Creating a queue whose dead letters go to another needs `w` on that one too."""
    target = admin.new_queue()
    data = {"name": str(uuid.uuid4()), "max_attempts": "2", "dead_letter": target}
    with client(server, "manager") as manager:
        manager.call("POST", "/queues", data=data).error(403, "permission denied")
    assert admin.call("POST", "/queues", data=data).ok() == data["name"]


def test_queue_list_shows_readable_queues(server: Server, admin: Api) -> None:
    """`GET /queues` lists only the queues the user may read."""
    public = admin.new_queue(PUBLIC)
    other = admin.new_queue()
    everything = admin.queues()
    with client(server, "reader") as reader:
        assert reader.queues() == everything
    with client(server, "writer") as writer:
        assert writer.queues() == []
    with client(server, "stranger") as stranger:
        assert stranger.queues() == [public]
        stranger.call("POST", "/queue", data={"name": other}).error(403, "permission denied")
        assert stranger.info(public.upper())["name"] == public


def test_stats_and_metrics_show_readable_queues(server: Server, admin: Api) -> None:
    """`GET /stats` and `GET /metrics` (and so the dashboard) show a user only the
    queues they may read, like the queue list."""
    public = admin.new_queue(PUBLIC)
    other = admin.new_queue()

    def seen(api: Api) -> tuple[set[str], str]:
        names = {q["name"] for q in api.call("GET", "/stats").ok()["queues"]}
        auth = api.session.auth
        metrics = requests.get(api.base_url + "/metrics", auth=auth, timeout=30)
        assert metrics.status_code == 200
        return names, metrics.text

    with client(server, "stranger") as stranger:
        names, metrics = seen(stranger)
        assert names == {public}
        assert public in metrics and other not in metrics
    with client(server, "reader") as reader:
        names, metrics = seen(reader)
        assert {public, other} <= names
        assert other in metrics


def test_queue_entry_overrides_star(server: Server, admin: Api) -> None:
    """A queue's own entry replaces the user's `*` rights on it (names compare as names:
    the entry was written in upper case); user names compare case-insensitively."""
    read_only = admin.new_queue(READ_ONLY)
    other = admin.new_queue()
    admin.put(read_only, "x")
    with client(server, "mixed") as mixed:
        mixed.call("POST", "/put", data={"name": read_only, "value": "v"}).error(
            403, "permission denied"
        )
        assert mixed.put(other, "v")
        assert mixed.take_item(read_only)["value"] == "x"
    with Api(server.url, auth=("MIXED", "mixed-pw")) as upper:
        assert upper.take_item(other)["value"] == "v"


def test_invalid_name_with_right_is_400(server: Server) -> None:
    """A name that is not a queue name: 400 for a user who could use any queue."""
    with client(server, "reader") as reader:
        reader.call("POST", "/take", data={"name": "nope"}).error(400, "invalid queue id")
    with client(server, "writer") as writer:
        writer.call("POST", "/take", data={"name": "nope"}).error(403, "permission denied")


# ------------------------------------------------------------ WebSocket


async def ws_exchange(server: Server, user: str, messages: list[dict[str, Any]]) -> list[Any]:
    """Send each message on one connection of `user`, and collect one reply each."""
    replies = []
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            ws_url(server.url), headers={"Authorization": basic(user, f"{user}-pw")}
        ) as ws,
    ):
        for message in messages:
            await ws.send_json(message)
            replies.append(await recv_json(ws))
    return replies


@pytest.mark.parametrize("user", ["reader", "writer", "manager", "admin"])
async def test_websocket_ops_need_their_rights(server: Server, admin: Api, user: str) -> None:
    """want and ack/release/touch need `r`, put needs `w`; a refused op is answered
    `permission denied` with its identifier, and changes nothing."""
    name = admin.new_queue()
    admin.put(name, "kept")
    replies = await ws_exchange(
        server,
        user,
        [
            {"identifier": "want", "queue": name},
            {"op": "put", "identifier": "put", "queue": name, "value": "v"},
            {"op": "ack", "identifier": "ack", "queue": name, "id": "1"},
            {"op": "release", "identifier": "rel", "queue": name, "id": "1"},
            {"op": "touch", "identifier": "touch", "queue": name, "id": "1", "lease": 5},
        ],
    )
    needs = ["r", "w", "r", "r", "r"]
    for number, (reply, right) in enumerate(zip(replies, needs, strict=True)):
        denied = {"success": False, "message": "permission denied", "payload": reply["payload"]}
        if right in RIGHTS[user]:
            assert reply != denied
        else:
            assert reply == denied
            # An op's error carries its HTTP status too; a want's (Part 1) does not.
            status = {} if number == 0 else {"status": 403}
            assert reply["payload"] == {"id": reply["payload"]["id"], **status}
    values = admin.drain(name)
    if "r" in RIGHTS[user]:
        values.insert(0, "kept")  # the want took it
    assert values[0] == "kept"
    assert values[1:] == (["v"] if "w" in RIGHTS[user] else [])
