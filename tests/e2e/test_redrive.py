"""Dead letters say where they came from, and `POST /redrive` sends them back (API.md
Part 3), on every backend, and after a restart on the durable ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import pg

from .conftest import StartServer
from .helpers import Api, create_queue, lease_call, put_item, take_leased

MISSING = "2a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"


def _dead_letter(api: Api, queue: str, value: str) -> None:
    """Put `value` into `queue` (max_attempts=1) and fail its one delivery."""
    put_item(api, queue, value)
    leased = take_leased(api, queue, 30)
    lease_call(api, "release", queue, None, receipt=leased["receipt"], delay=0).ok()


def test_dead_letters_carry_their_source_and_go_back(api: Api) -> None:
    """A dead letter has dead_letter_from on a take and a peek; a redrive moves them back
    to their source's back, oldest first, attempts reset, `count` at a time."""
    letters = api.new_queue()
    queue = create_queue(api, max_attempts=1, dead_letter=letters)
    for value in ("a", "b", "c"):
        _dead_letter(api, queue, value)
    assert api.peek(letters).ok()["dead_letter_from"] == queue
    put_item(api, queue, "fresh")
    moved = api.call("POST", "/redrive", data={"name": letters, "count": "2"}).ok()
    assert moved == {"moved": 2}
    assert [api.take_item(queue)["value"] for _ in range(3)] == ["fresh", "a", "b"]
    again = take_leased(api, letters, 30)
    assert (again["value"], again["dead_letter_from"]) == ("c", queue)
    lease_call(api, "release", letters, None, receipt=again["receipt"], delay=0).ok()
    assert api.call("POST", "/redrive", data={"name": letters}).ok() == {"moved": 1}
    back = take_leased(api, queue, 30)
    assert (back["value"], back["attempts"]) == ("c", 1)
    assert "dead_letter_from" not in back


def test_redrive_to_another_queue(api: Api) -> None:
    """With `to`, every dead letter goes there, whatever queue it came from."""
    letters = api.new_queue()
    queue = create_queue(api, max_attempts=1, dead_letter=letters)
    other = api.new_queue()
    _dead_letter(api, queue, "x")
    put_item(api, letters, "put here by hand")  # no source: only a `to` moves it
    reply = api.call("POST", "/redrive", data={"name": letters, "to": other})
    assert reply.ok() == {"moved": 2}
    assert api.drain(other) == ["x", "put here by hand"]


def test_bad_redrives_are_refused(api: Api) -> None:
    """Redrive of a queue that is nobody's dead-letter queue with no `to`, to itself, to
    or from a missing queue."""
    plain = api.new_queue()
    api.call("POST", "/redrive", data={"name": plain}).error(400, "not a dead-letter queue")
    api.call("POST", "/redrive", data={"name": plain, "to": plain}).error(
        400, "invalid parameter 'to'"
    )
    api.call("POST", "/redrive", data={"name": plain, "to": MISSING}).error(
        404, "queue does not exist"
    )
    api.call("POST", "/redrive", data={"name": MISSING}).error(404, "queue does not exist")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_redrive_after_a_restart(start_server: StartServer, tmp_path: Path, kind: str) -> None:
    """Where a dead letter came from survives a restart: the redrive after it still sends
    it home."""
    with pg.fresh_schema() as schema:
        storage = pg.storage(schema) if kind == "postgres" else {"type": "sqlite"}
        server = start_server({"storage": storage}, directory=tmp_path / "node")
        with Api(server.url) as api:
            letters = api.new_queue()
            queue = create_queue(api, max_attempts=1, dead_letter=letters)
            _dead_letter(api, queue, "survivor")
        server.stop()
        server = start_server(server.config, directory=tmp_path / "node")
        with Api(server.url) as api:
            assert api.peek(letters).ok()["dead_letter_from"] == queue
            assert api.call("POST", "/redrive", data={"name": letters}).ok() == {"moved": 1}
            assert api.take_item(queue)["value"] == "survivor"
        server.stop()
