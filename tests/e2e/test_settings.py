"""Queue defaults for `delay` and `ttl`, `POST /queue/settings` and `409 queue exists with
other settings` (API.md Part 3), on every backend."""

from __future__ import annotations

from .helpers import Api, create_queue, put_item, take_leased, take_with


def test_queue_defaults_delay_and_ttl_for_items_put_without_their_own(api: Api) -> None:
    """Items put without a delay (a plain put, a batch) wait the queue's; one put with
    delay=0 is visible at once; the default ttl is in info."""
    queue = create_queue(api, delay=600, ttl=3600)
    put_item(api, queue, "plain")
    api.call("POST", "/put", json_body={"name": queue, "items": [{"value": "batched"}]}).ok()
    put_item(api, queue, "now", delay=0)
    info = api.info(queue)
    assert (info["size"], info["delayed"], info["delay"], info["ttl"]) == (1, 2, 600, 3600)
    assert api.take_item(queue)["value"] == "now"
    take_with(api, queue).error(404, "no item to take")


def test_change_settings_holds_at_once_and_clears(api: Api) -> None:
    """POST /queue/settings changes only what it names, at once (max_items refuses the
    next put, a lease ending after the change dead-letters), an empty value clears one;
    it answers the queue's information."""
    letters = api.new_queue()
    queue = create_queue(api, lease=30, max_items=10)
    put_item(api, queue, "one")
    leased = take_leased(api, queue, 30)
    changed = api.call(
        "POST", "/queue/settings",
        data={"name": queue, "max_items": "1", "max_attempts": "1", "dead_letter": letters,
              "retry_delays": "5,10"},
    ).ok()  # fmt: skip
    assert (changed["lease"], changed["max_items"], changed["max_attempts"]) == (30, 1, 1)
    assert (changed["dead_letter"], changed["retry_delays"]) == (letters, [5.0, 10.0])
    api.call("POST", "/put", data={"name": queue, "value": "two"}).error(429, "queue is full")
    api.call("POST", "/release", data={"name": queue, "receipt": leased["receipt"]}).ok()
    assert api.take_item(letters)["value"] == "one"
    cleared = api.call("POST", "/queue/settings", data={"name": queue, "max_items": ""}).ok()
    assert (cleared["max_items"], cleared["max_attempts"]) == (None, 1)
    put_item(api, queue, "two")


def test_bad_settings_changes_are_refused(api: Api) -> None:
    """A queue cannot become its own dead-letter queue, nor name a missing one; settings
    out of range are 400s; a missing queue is a 404."""
    queue = api.new_queue()
    change = {"name": queue, "dead_letter": queue}
    api.call("POST", "/queue/settings", data=change).error(400, "invalid parameter 'dead_letter'")
    missing = "2a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"
    api.call("POST", "/queue/settings", data={"name": queue, "dead_letter": missing}).error(
        404, "dead letter queue does not exist"
    )
    api.call("POST", "/queue/settings", data={"name": queue, "retry_delays": "1,-1"}).error(
        400, "invalid parameter 'retry_delays'"
    )
    api.call("POST", "/queue/settings", data={"name": missing, "lease": "5"}).error(
        404, "queue does not exist"
    )
    assert api.info(queue)["dead_letter"] is None


def test_recreating_with_other_settings_is_a_conflict(api: Api) -> None:
    """POST /queues of an existing queue: none or the same settings answer its name; other
    ones 409, and the queue keeps its own."""
    name = "4c9d0e1f-2a3b-4c4d-9e5f-6a7b8c9d0e1f"
    assert create_queue(api, name, retry_delays="2,4", ttl=60) == name
    assert create_queue(api, name) == name
    assert create_queue(api, name, retry_delays="2,4", ttl=60) == name
    api.call("POST", "/queues", data={"name": name, "retry_delays": "2"}).error(
        409, "queue exists with other settings"
    )
    assert api.info(name)["retry_delays"] == [2.0, 4.0]
    api.call("DELETE", "/queue", data={"name": name}).ok()
