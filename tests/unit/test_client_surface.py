"""The client's public surface: exported names, the error mapping, a light `import disqueue`."""

from __future__ import annotations

import subprocess
import sys

import pytest

import disqueue
import disqueue.client
from disqueue.client import errors
from disqueue.client.options import Options


def test_exported_names() -> None:
    """The names users import stay put (a change here is a breaking change)."""
    assert set(disqueue.client.__all__) == {
        "AsyncClient", "AsyncConsumer", "AuthError", "BadRequest", "Client", "ClientError",
        "ConnectionFailed", "Consumer", "Disqueue", "Item", "Message", "NoItem", "NoSuchLease",
        "NotFound", "Options", "PermissionDenied", "QueueClient", "QueueException",
        "QueueExists", "QueueFull", "QueueInfo", "QueueNotFound", "ServerError", "Settled",
        "SyncMessage", "TooLarge", "TooMany", "queue_create", "queue_list",
    }  # fmt: skip
    for name in ("Disqueue", "QueueClient", "QueueException", "queue_create", "queue_list"):
        assert getattr(disqueue, name) is getattr(disqueue.client, name)
    assert disqueue.QueueException is errors.ClientError
    with pytest.raises(AttributeError):
        _ = disqueue.NoSuchName  # type: ignore[attr-defined]


def test_import_disqueue_stays_light() -> None:
    """`import disqueue` (done by the server too) loads no client library."""
    heavy = ("httpx", "aiohttp", "rich", "disqueue.client")
    code = f"import sys, disqueue; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (404, "queue does not exist", errors.QueueNotFound),
        (None, "queue not found", errors.QueueNotFound),
        (404, "no item to take", errors.NoItem),
        (404, "no item to peek", errors.NoItem),
        (404, "no such lease", errors.NoSuchLease),
        (404, "not found", errors.NotFound),
        (400, "invalid queue id", errors.BadRequest),
        (None, "invalid parameter 'lease'", errors.BadRequest),
        (401, "authentication required", errors.AuthError),
        (403, "invalid credentials", errors.AuthError),
        (403, "permission denied", errors.PermissionDenied),
        (413, "value too large", errors.TooLarge),
        (429, "queue is full", errors.QueueFull),
        (409, "queue exists with other settings", errors.QueueExists),
        (429, "too many queues", errors.TooMany),
        (500, "storage failure", errors.ServerError),
        (503, "storage unavailable", errors.ServerError),
        (None, "unknown op", errors.ClientError),
    ],
)
def test_error_for(status: int | None, message: str, kind: type[errors.ClientError]) -> None:
    """Each failure maps to its class by message, else by status; all are QueueExceptions."""
    error = errors.error_for(status, message)
    assert type(error) is kind
    assert (error.status, error.message, str(error)) == (status, message, message)
    assert isinstance(error, errors.QueueException)


def test_options_from_environment() -> None:
    """Arguments win over DISQUEUE_* variables, which win over the defaults."""
    env = {"DISQUEUE_URL": "https://q.example:9/", "DISQUEUE_USER": "u", "DISQUEUE_PASSWORD": "p"}
    options = Options.resolve(env=env)
    assert (options.url, options.auth, options.ws_url) == (
        "https://q.example:9",
        ("u", "p"),
        "wss://q.example:9/take/ws",
    )
    options = Options.resolve("http://h:1", ("a", "b"), env=env)
    assert (options.url, options.auth, options.ssl_context) == ("http://h:1", ("a", "b"), None)
    defaults = Options.resolve(env={})
    assert (defaults.url, defaults.auth) == ("http://127.0.0.1:3682", None)


def test_item_from_payload_is_the_item_its_fields_make() -> None:
    """`Item.from_payload` (which sets the slots itself) makes the same frozen item as
    the constructor, with the defaults for what a payload leaves out."""
    import dataclasses

    from disqueue.client.models import Item

    full = {"value": "v", "key": "k", "id": "i", "attempts": 2, "lease_expires": 1.5,
            "receipt": "i.t", "dead_letter_from": "q", "headers": {"a": "b"}, "priority": 3,
            "unknown": True}  # fmt: skip
    made = Item.from_payload(full)
    assert made == Item("v", "k", "i", 2, 1.5, "i.t", "q", {"a": "b"}, 3)
    assert Item.from_payload({"value": "v"}) == Item("v")
    assert hash(Item.from_payload({"value": "v"})) == hash(Item("v"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.value = "w"  # type: ignore[misc]
