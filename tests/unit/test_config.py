"""The configuration file: defaults, paths, and errors that name the file and field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from disqueue.config import Config
from disqueue.errors import ConfigError


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return path


def test_default_is_one_open_listener() -> None:
    """Without a file the server listens on 127.0.0.1:3682 with no auth and no TLS."""
    (listener,) = Config.default().servers
    assert (listener.hostname, listener.port, listener.tls, listener.authentication) == (
        "127.0.0.1",
        3682,
        None,
        None,
    )


def test_original_file_with_relative_paths(tmp_path: Path) -> None:
    """The original format loads; relative paths are relative to the file's folder."""
    for name in ("cert.pem", "key.pem", "passwords"):
        (tmp_path / name).write_text("x")
    config = Config.from_file(
        write(
            tmp_path,
            {
                "servers": [
                    {
                        "hostname": "0.0.0.0",
                        "port": 40000,
                        "authentication": "default",
                        "security": {"certificate": "cert.pem", "privatekey": "key.pem"},
                    }
                ],
                "authentication": {"default": {"type": "plaintext", "file": "passwords"}},
            },
        )
    )
    (listener,) = config.servers
    assert listener.port == 40000
    assert listener.tls is not None and listener.tls.certificate == tmp_path / "cert.pem"
    assert listener.authentication is not None
    assert listener.authentication.file == tmp_path / "passwords"
    assert listener.url == "https://0.0.0.0:40000"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"servers": [{"port": "abc"}]}, "servers[0].port"),
        ({"servers": [{"port": 70000}]}, "servers[0].port"),
        ({"servers": [{"port": 1}, {"port": True}]}, "servers[1].port"),
        ({"servers": []}, "servers"),
        ({}, "servers"),
        ({"servers": [{"authentication": "nope"}]}, "servers[0].authentication"),
        ({"servers": [{"hostnme": "x"}]}, "servers[0].hostnme"),
        ({"servers": [{}], "storage": {"type": "floppy"}}, "storage.type"),
        ({"servers": [{}], "limits": {"max_value_bytes": 0}}, "limits.max_value_bytes"),
        ({"servers": [{}], "queue_names": "some"}, "queue_names"),
        (
            {"servers": [{}], "authentication": {"a": {"type": "plaintext", "file": "missing"}}},
            "authentication.a.file",
        ),
        ([], "(top level)"),
    ],
)
def test_errors_name_file_and_field(tmp_path: Path, data: object, field: str) -> None:
    """Each bad field is reported as `<file>: <field>: <problem>`."""
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        Config.from_file(path)
    assert caught.value.message.startswith(f"{path}: {field}")


def test_unreadable_and_invalid_json(tmp_path: Path) -> None:
    """A missing file and a file that is not JSON both name the file."""
    with pytest.raises(ConfigError, match=r"missing\.json: cannot read"):
        Config.from_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{servers: ")
    with pytest.raises(ConfigError, match=r"bad\.json: not valid JSON"):
        Config.from_file(bad)


def test_limits_override_only_what_is_given(tmp_path: Path) -> None:
    """Limits not in the file keep their defaults."""
    config = Config.from_file(write(tmp_path, {"servers": [{}], "limits": {"max_queues": 5}}))
    assert config.limits.max_queues == 5
    assert config.limits.max_value_bytes == 1024 * 1024


def _with_permissions(permissions: object, **top: object) -> dict[str, object]:
    return {
        "servers": [{"authentication": "a"}],
        "authentication": {"a": {"type": "plaintext", "file": "pw", "permissions": permissions}},
        **top,
    }


@pytest.mark.parametrize(
    ("permissions", "field", "problem"),
    [
        ([], "authentication.a.permissions", "must be an object"),
        ({"bob": "rw"}, "authentication.a.permissions.bob", "must be an object"),
        ({"bob": {"*": "rx"}}, "authentication.a.permissions.bob.*", "must be a string"),
        ({"bob": {"*": 7}}, "authentication.a.permissions.bob.*", "must be a string"),
        ({"bob": {"q1": "r"}}, "authentication.a.permissions.bob.q1", "not a queue name"),
        ({"": {"*": "r"}}, "authentication.a.permissions", "a user name must not be empty"),
    ],
)
def test_permission_errors(tmp_path: Path, permissions: object, field: str, problem: str) -> None:
    """A bad `permissions` entry names the file, the field and the problem."""
    (tmp_path / "pw").write_text("bob:$plain$x\n")
    path = write(tmp_path, _with_permissions(permissions))
    with pytest.raises(ConfigError) as caught:
        Config.from_file(path)
    assert caught.value.message.startswith(f"{path}: {field}: {problem}")


def test_permissions_are_normalised(tmp_path: Path) -> None:
    """User names are lower-cased, UUID queue names canonical, free-form names kept."""
    (tmp_path / "pw").write_text("bob:$plain$x\n")
    queue = "6F1C0B2E-0000-4000-8000-000000000001"
    data = _with_permissions({"Bob": {queue: "rw", "Jobs.1": "", "*": "m"}}, queue_names="any")
    (listener,) = Config.from_file(write(tmp_path, data)).servers
    assert listener.authentication is not None
    assert listener.authentication.permissions == {
        "bob": {queue.lower(): frozenset("rw"), "Jobs.1": frozenset(), "*": frozenset("m")}
    }


@pytest.mark.parametrize(
    "name",
    [
        "max_header_bytes",
        "max_connections",
        "max_wants_per_connection",
        "idle_timeout",
        "body_timeout",
        "max_failed_logins",
        "failed_login_window",
    ],
)
def test_new_limits_are_positive_integers(tmp_path: Path, name: str) -> None:
    """Each limit must be an integer of at least 1; a good value is taken."""
    path = write(tmp_path, {"servers": [{}], "limits": {name: 0}})
    with pytest.raises(ConfigError) as caught:
        Config.from_file(path)
    assert caught.value.message == f"{path}: limits.{name}: must be an integer of at least 1"
    config = Config.from_file(write(tmp_path, {"servers": [{}], "limits": {name: 7}}))
    assert getattr(config.limits, name) == 7


def test_postgres_storage(tmp_path: Path) -> None:
    """postgres needs a dsn; its schema is a short SQL name (the nodes' notification
    channel, disqueue_<schema>, must fit PostgreSQL's 63-byte names)."""
    base = {"servers": [{}]}
    dsn = "postgresql://u@db/q"
    config = Config.from_file(
        write(tmp_path, {**base, "storage": {"type": "postgres", "dsn": dsn, "schema": "a" * 54}})
    )
    assert (config.storage.type, config.storage.dsn, config.storage.schema) == (
        "postgres",
        dsn,
        "a" * 54,
    )
    assert config.storage.pool == 10
    for storage, problem in (
        ({"type": "postgres"}, "storage.dsn: must be a non-empty string"),
        ({"type": "postgres", "dsn": dsn, "schema": "a" * 55}, "storage.schema"),
        ({"type": "postgres", "dsn": dsn, "schema": "Bad-Name"}, "storage.schema"),
        ({"type": "postgres", "dsn": dsn, "pool": 1}, "storage.pool"),
        ({"type": "postgres", "dsn": dsn, "path": "x"}, "storage"),
    ):
        with pytest.raises(ConfigError, match=re.escape(problem)):
            Config.from_file(write(tmp_path, {**base, "storage": storage}))
