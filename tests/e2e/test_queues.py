"""Queue management: `GET/POST /queues`, `POST/DELETE /queue`, names and their case."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from .helpers import UUID4_RE, Api


def test_generated_name_is_lowercase_uuid4(api: Api) -> None:
    """POST /queues without a name returns a new lower-case version-4 UUID."""
    name = api.new_queue()
    assert UUID4_RE.match(name), name
    assert name in api.queues()


def test_generated_names_are_distinct(api: Api) -> None:
    """Each POST /queues without a name makes a different queue."""
    names = {api.new_queue() for _ in range(5)}
    assert len(names) == 5


def test_list_is_oldest_first(api: Api) -> None:
    """GET /queues lists names in creation order, oldest first."""
    created = [api.new_queue() for _ in range(4)]
    listed = api.queues()
    assert all(isinstance(name, str) for name in listed)
    positions = [listed.index(name) for name in created]
    assert positions == sorted(positions)


def test_create_with_given_name(api: Api) -> None:
    """POST /queues with a name creates exactly that queue."""
    name = str(uuid.uuid4())
    assert api.new_queue(name) == name
    assert name in api.queues()
    assert api.info(name)["name"] == name


def test_create_uppercase_name_returns_lowercase(api: Api) -> None:
    """A given upper-case name is returned, listed and reported lower-cased."""
    name = str(uuid.uuid4())
    assert api.new_queue(name.upper()) == name
    listed = api.queues()
    assert name in listed
    assert name.upper() not in listed
    assert api.info(name.upper())["name"] == name


def test_create_is_idempotent_in_any_case(api: Api) -> None:
    """Creating an existing name (any case) returns it, keeps its items, makes no duplicate."""
    name = api.new_queue()
    api.put(name, "kept")
    assert api.new_queue(name) == name
    assert api.new_queue(name.upper()) == name
    assert api.queues().count(name) == 1
    assert api.take_item(name)["value"] == "kept"


def test_non_v4_uuid_name_is_accepted(api: Api) -> None:
    """Any canonical UUID is a valid name, not only version 4."""
    name = str(uuid.uuid1())
    assert api.new_queue(name) == name
    api.put(name, "v")
    assert api.take_item(name)["value"] == "v"


@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        "not-a-uuid-but-thirty-six-chars-long",
        "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
        "0123456789abcdef0123456789abcdef",
        "{01234567-89ab-cdef-0123-456789abcdef}",
        "01234567-89ab-cdef-0123-456789abcdef0",
        "01234567-89ab-cdef-0123-456789abcde",
    ],
)
def test_create_invalid_name(api: Api, bad: str) -> None:
    """POST /queues with a name that is not a canonical UUID → 400 invalid queue id."""
    before = api.queues()
    api.call("POST", "/queues", data={"name": bad}).error(400, "invalid queue id")
    assert api.queues() == before


def test_info_payload(api: Api) -> None:
    """POST /queue reports name, ready size, consumers, created, put and taken totals."""
    name = api.new_queue()
    info = api.info(name)
    assert info["name"] == name
    assert info["size"] == 0
    assert info["consumers"] == 0
    assert info["put"] == 0
    assert info["taken"] == 0
    created = datetime.fromisoformat(info["created"].replace("Z", "+00:00"))
    if created.tzinfo is not None:
        age = datetime.now(UTC) - created
        assert abs(age.total_seconds()) < 300, info["created"]
    for value in ("a", "b", "c"):
        api.put(name, value)
    api.take_item(name)
    info = api.info(name)
    assert (info["size"], info["put"], info["taken"]) == (2, 3, 1)


def test_info_name_is_case_insensitive(api: Api) -> None:
    """POST /queue finds a queue by its upper-case name and reports it lower-case."""
    name = api.new_queue()
    assert api.info(name.upper())["name"] == name


def test_info_unknown_queue(api: Api) -> None:
    """POST /queue for a name that does not exist → 404 queue does not exist."""
    api.call("POST", "/queue", data={"name": str(uuid.uuid4())}).error(404, "queue does not exist")


def test_delete_queue(api: Api) -> None:
    """DELETE /queue answers null and the queue and its items are gone."""
    name = api.new_queue()
    api.put(name, "x")
    reply = api.call("DELETE", "/queue", data={"name": name})
    assert reply.ok() is None
    assert name not in api.queues()
    api.call("POST", "/queue", data={"name": name}).error(404, "queue does not exist")
    api.take(name).error(404, "queue does not exist")


def test_delete_by_uppercase_name(api: Api) -> None:
    """DELETE /queue matches the name case-insensitively."""
    name = api.new_queue()
    assert api.call("DELETE", "/queue", data={"name": name.upper()}).ok() is None
    assert name not in api.queues()


def test_delete_unknown_queue(api: Api) -> None:
    """DELETE /queue of an unknown queue → 404 (the original answered 200) and creates nothing."""
    name = str(uuid.uuid4())
    api.call("DELETE", "/queue", data={"name": name}).error(404, "queue does not exist")
    assert name not in api.queues()


def test_delete_twice(api: Api) -> None:
    """A second DELETE /queue of the same queue → 404."""
    name = api.new_queue()
    api.call("DELETE", "/queue", data={"name": name}).ok()
    api.call("DELETE", "/queue", data={"name": name}).error(404, "queue does not exist")


def test_recreate_after_delete_is_empty(api: Api) -> None:
    """A queue re-created after DELETE starts empty and is listed once, at the end."""
    name = api.new_queue()
    api.put(name, "old")
    api.call("DELETE", "/queue", data={"name": name}).ok()
    other = api.new_queue()
    assert api.new_queue(name) == name
    listed = api.queues()
    assert listed.count(name) == 1
    assert listed.index(other) < listed.index(name)
    api.take(name).error(404, "no item to take")
    assert api.info(name)["size"] == 0
