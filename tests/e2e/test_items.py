"""Items: put, take and peek, FIFO order and key matching."""

from __future__ import annotations

import uuid

import pytest

from .helpers import Api


def test_put_returns_item_id_and_take_returns_item(api: Api, queue: str) -> None:
    """put answers {"id"}; take answers that item's key, value and id and removes it."""
    item_id = api.put(queue, "hello", key="greeting")
    item = api.take_item(queue)
    assert item["id"] == item_id
    assert item["key"] == "greeting"
    assert item["value"] == "hello"
    api.take(queue).error(404, "no item to take")


def test_item_ids_are_distinct(api: Api, queue: str) -> None:
    """Every put returns a different id."""
    ids = [api.put(queue, str(i)) for i in range(10)]
    assert len(set(ids)) == 10


def test_unkeyed_item_has_null_key(api: Api, queue: str) -> None:
    """An item put without a key comes back with key null."""
    api.put(queue, "v")
    item = api.take_item(queue)
    assert item["key"] is None
    assert item["value"] == "v"


def test_take_is_fifo(api: Api, queue: str) -> None:
    """Items are taken in the order they were put."""
    values = [f"item-{i}" for i in range(20)]
    for value in values:
        api.put(queue, value)
    assert api.drain(queue) == values


def test_take_empty_queue(api: Api, queue: str) -> None:
    """take on an empty queue → 404 no item to take."""
    api.take(queue).error(404, "no item to take")


def test_peek_empty_queue(api: Api, queue: str) -> None:
    """peek on an empty queue → 404 no item to peek."""
    api.peek(queue).error(404, "no item to peek")


def test_peek_does_not_remove(api: Api, queue: str) -> None:
    """peek returns the oldest item, twice, and leaves it for take."""
    first_id = api.put(queue, "first", key="k")
    api.put(queue, "second")
    for _ in range(2):
        item = api.peek(queue).ok()
        assert item == {**item, "key": "k", "value": "first", "id": first_id}
    assert api.info(queue)["size"] == 2
    assert api.take_item(queue)["value"] == "first"
    assert api.peek(queue).ok()["value"] == "second"


def test_empty_string_value(api: Api, queue: str) -> None:
    """An empty value is a valid value and round-trips."""
    api.put(queue, "")
    item = api.take_item(queue)
    assert item["value"] == ""


def test_keyed_take_is_case_insensitive(api: Api, queue: str) -> None:
    """take with a key matches the item's key case-insensitively and returns the stored key."""
    api.put(queue, "v", key="MixedCase")
    item = api.take_item(queue, key="mIXEDcASE")
    assert item["value"] == "v"
    assert item["key"] == "MixedCase"


def test_keyed_peek_is_case_insensitive(api: Api, queue: str) -> None:
    """peek with a key matches case-insensitively and does not remove the item."""
    api.put(queue, "v", key="ABC")
    assert api.peek(queue, key="abc").ok()["value"] == "v"
    assert api.info(queue)["size"] == 1


def test_keyed_take_skips_other_keys(api: Api, queue: str) -> None:
    """take with a key returns the oldest matching item, leaving older others in place."""
    api.put(queue, "a1", key="a")
    api.put(queue, "b1", key="b")
    api.put(queue, "a2", key="a")
    api.put(queue, "b2", key="B")
    assert api.take_item(queue, key="b")["value"] == "b1"
    assert api.take_item(queue, key="b")["value"] == "b2"
    api.take(queue, key="b").error(404, "no item to take")
    assert api.drain(queue) == ["a1", "a2"]


def test_keyed_peek_skips_other_keys(api: Api, queue: str) -> None:
    """peek with a key returns the oldest matching item."""
    api.put(queue, "a1", key="a")
    api.put(queue, "b1", key="b")
    assert api.peek(queue, key="B").ok()["value"] == "b1"
    api.peek(queue, key="c").error(404, "no item to peek")


def test_unkeyed_items_never_match_keyed_take(api: Api, queue: str) -> None:
    """Items without a key are invisible to a keyed take or peek."""
    api.put(queue, "no-key")
    api.take(queue, key="anything").error(404, "no item to take")
    api.peek(queue, key="anything").error(404, "no item to peek")
    assert api.take_item(queue)["value"] == "no-key"


def test_unkeyed_take_returns_oldest_whatever_its_key(api: Api, queue: str) -> None:
    """take without a key returns the oldest item, keyed or not."""
    api.put(queue, "k1", key="k")
    api.put(queue, "plain")
    api.put(queue, "j1", key="j")
    assert api.drain(queue) == ["k1", "plain", "j1"]


def test_queue_name_case_insensitive_for_items(api: Api, queue: str) -> None:
    """put, peek and take find the queue by its name in any case."""
    api.put(queue.upper(), "v")
    assert api.peek(queue.upper()).ok()["value"] == "v"
    assert api.take_item(queue)["value"] == "v"


def test_queues_are_independent(api: Api) -> None:
    """Items put on one queue are not visible on another."""
    first, second = api.new_queue(), api.new_queue()
    api.put(first, "one")
    api.take(second).error(404, "no item to take")
    assert api.take_item(first)["value"] == "one"


def test_put_missing_value(api: Api, queue: str) -> None:
    """put without a value → 400 missing parameter 'value' and nothing stored."""
    api.call("POST", "/put", data={"name": queue}).error(400, "missing parameter 'value'")
    api.call("POST", "/put", data={"name": queue, "key": "k"}).error(
        400, "missing parameter 'value'"
    )
    assert api.info(queue)["size"] == 0


ENDPOINTS_WITH_NAME = [
    ("POST", "/queue"),
    ("DELETE", "/queue"),
    ("POST", "/put"),
    ("POST", "/take"),
    ("POST", "/peek"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS_WITH_NAME)
def test_missing_name(api: Api, method: str, path: str) -> None:
    """Every queue endpoint without a name → 400 missing parameter 'name'."""
    api.call(method, path, data={"value": "v"}).error(400, "missing parameter 'name'")


@pytest.mark.parametrize(("method", "path"), ENDPOINTS_WITH_NAME)
def test_invalid_name(api: Api, method: str, path: str) -> None:
    """Every queue endpoint with a name that is not a UUID → 400 invalid queue id."""
    api.call(method, path, data={"name": "nope", "value": "v"}).error(400, "invalid queue id")


@pytest.mark.parametrize(("method", "path"), ENDPOINTS_WITH_NAME)
def test_unknown_queue(api: Api, method: str, path: str) -> None:
    """Every queue endpoint with an unknown queue → 404 queue does not exist."""
    name = str(uuid.uuid4())
    api.call(method, path, data={"name": name, "value": "v"}).error(404, "queue does not exist")
    assert name not in api.queues()


def test_put_to_unknown_queue_does_not_create_it(api: Api) -> None:
    """put to an unknown queue creates no queue: a later create starts empty."""
    name = str(uuid.uuid4())
    api.call("POST", "/put", data={"name": name, "value": "v"}).error(404, "queue does not exist")
    api.new_queue(name)
    api.take(name).error(404, "no item to take")


def test_many_items_keep_values(api: Api, queue: str) -> None:
    """Values with separators and binary-looking text round-trip unchanged through a form body."""
    values = ["a&b=c", "100% sure", "plus+sign", "line\nbreak", "tab\tand space ", "\x01\x7f"]
    for value in values:
        api.put(queue, value, key=value)
    for value in values:
        item = api.take_item(queue)
        assert (item["key"], item["value"]) == (value, value)
