"""The configuration of CONFIG.md, as frozen dataclasses built by named constructors.

`Config.from_file` reads and checks a JSON file; every problem becomes a
`ConfigError` whose message names the file and the field, e.g.
``config.json: servers[0].port: must be an integer from 1 to 65535``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

from disqueue.errors import ConfigError, DisqueueError
from disqueue.names import NamePolicy, QueueNames

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3682
MIB = 1024 * 1024

#: How queues may be named: UUIDs only (Part 1), or also short free-form names.


@dataclass(frozen=True, slots=True)
class TLSConfig:
    certificate: Path
    privatekey: Path
    client_ca: Path | None = None


#: A right on a queue: `r` read (take, peek, ack/release/touch, wants, info, list),
#: `w` write (put), `m` manage (create, delete, purge).
RIGHTS = frozenset("rwm")

#: `permissions` of an authentication entry: user (lower-case, or `*`) → queue
#: (canonical name, or `*`) → the rights, a set of `RIGHTS`.
PermissionTable = dict[str, dict[str, frozenset[str]]]


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """One entry of `authentication`; `name` is also the Basic realm. Without
    `permissions` every authenticated user may do everything."""

    name: str
    type: Literal["plaintext"]
    file: Path
    permissions: PermissionTable | None = None


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    hostname: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    tls: TLSConfig | None = None
    authentication: AuthConfig | None = None
    #: Which HTTP stack serves the API's calls on a plain listener: "fast" (server/fast.py,
    #: everything else still aiohttp's) or "aiohttp" (all of it). TLS is always aiohttp.
    http: Literal["fast", "aiohttp"] = "fast"

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{scheme}://{host}:{self.port}"


#: Where the embedded default storage lives, relative to the configuration file's folder
#: (or to the working directory when there is no file).
DEFAULT_DATABASE = Path("data") / "disqueue.db"


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """`{"type": "sqlite", "path": ..., "sync": "full" | "normal"}`, `{"type": "memory"}`
    or `{"type": "postgres", "dsn": ..., "schema": "disqueue", "pool": 10}`."""

    type: Literal["memory", "sqlite", "postgres"] = "sqlite"
    path: Path = DEFAULT_DATABASE
    sync: Literal["full", "normal"] = "full"
    #: PostgreSQL: where the database is, the schema that holds Disqueue's tables (one
    #: schema is one queue service), and at most how many connections each node opens.
    dsn: str = ""
    schema: str = "disqueue"
    pool: int = 10


@dataclass(frozen=True, slots=True)
class Limits:
    """Sizes, counts and timeouts (CONFIG.md `limits`); times are in seconds."""

    max_value_bytes: int = 1 * MIB
    max_key_bytes: int = 1024
    #: A request body, and a WebSocket message (over it: close code 1009).
    max_body_bytes: int = 16 * MIB
    max_queues: int | None = None
    #: The request line, and each header line (over it: 431).
    max_header_bytes: int = 8190
    #: Open connections of the whole process, every listener together (over it: 503).
    max_connections: int = 10_000
    #: Wants not yet answered on one WebSocket (over it: `too many wants`).
    max_wants_per_connection: int = 1000
    #: A connection that sends no complete request header this long after it opened or
    #: after its previous answer is closed: idle keep-alives and slow headers alike.
    idle_timeout: int = 60
    #: How long a request body may take to arrive (over it: 408 `request timeout`).
    body_timeout: int = 60
    #: Failed logins from one address within `failed_login_window` before its further
    #: attempts are refused (429) until the oldest failure leaves the window.
    max_failed_logins: int = 10
    failed_login_window: int = 60


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"
    access: bool = False  # one line per HTTP request (logger `disqueue.access`)


@dataclass(frozen=True, slots=True)
class SqsConfig:
    """`"sqs"`: the Amazon SQS protocols on every listener (API.md Part 3). `access_keys`:
    the file of `ACCESS_KEY_ID:SECRET:user` lines SigV4 checks requests against (needed
    on a listener with authentication)."""

    account: str = "000000000000"
    region: str = "us-east-1"
    access_keys: Path | None = None


@dataclass(frozen=True, slots=True)
class Config:
    servers: tuple[ListenerConfig, ...] = (ListenerConfig(),)
    storage: StorageConfig = field(default_factory=StorageConfig)
    queue_names: NamePolicy = "uuid"
    limits: Limits = field(default_factory=Limits)
    log: LogConfig = field(default_factory=LogConfig)
    source: Path | None = None
    sqs: SqsConfig | None = None

    @property
    def names(self) -> QueueNames:
        """How queue names are checked (SQS names too, with `sqs`)."""
        return QueueNames(self.queue_names, sqs=self.sqs is not None)

    @classmethod
    def default(cls) -> Config:
        """What `disqueue` runs without a file: one open listener on 127.0.0.1:3682."""
        return cls()

    @classmethod
    def from_file(cls, path: str | Path) -> Config:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"{path}: cannot read: {reason}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
        return cls.from_dict(data, base=path.resolve().parent, source=path)

    @classmethod
    def from_dict(cls, data: object, *, base: Path, source: Path | None = None) -> Config:
        return _Reader(source, base).config(data)


_STACKS = ("fast", "aiohttp")


class _Reader:
    """Reads one configuration document, naming the file and field in every error."""

    def __init__(self, source: Path | None, base: Path) -> None:
        self.source = source
        self.base = base
        self.sqs_names = False  # whether SQS queue names are names (`"sqs"` is there)

    def fail(self, where: str, problem: str) -> ConfigError:
        prefix = f"{self.source}: " if self.source else ""
        return ConfigError(f"{prefix}{where or '(top level)'}: {problem}")

    def obj(self, value: object, where: str, known: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be an object")
        for name in value:
            if name not in known:
                raise self.fail(f"{where}.{name}" if where else name, "unknown field")
        return cast(dict[str, Any], value)

    def text(self, value: object, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, "must be a non-empty string")
        return value

    def integer(self, value: object, where: str, low: int, high: int | None = None) -> int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        if not ok or (high is not None and cast(int, value) > high):
            span = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise self.fail(where, f"must be an integer {span}")
        return cast(int, value)

    def choice(self, value: object, where: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            raise self.fail(where, "must be one of " + ", ".join(map(repr, choices)))
        return str(value)

    def path(self, value: object, where: str) -> Path:
        return self.base / self.text(value, where)

    def config(self, data: object) -> Config:
        top = self.obj(
            data,
            "",
            {"servers", "authentication", "storage", "queue_names", "limits", "log", "sqs"},
        )
        sqs = self.sqs(top["sqs"]) if "sqs" in top else None
        self.sqs_names = sqs is not None
        names = cast(
            NamePolicy, self.choice(top.get("queue_names", "uuid"), "queue_names", ("uuid", "any"))
        )
        auths = self.authentications(top.get("authentication", {}), names)
        servers = top.get("servers")
        if not isinstance(servers, list) or not servers:
            raise self.fail("servers", "must be a non-empty list of listeners")
        listeners = tuple(self.listener(s, f"servers[{i}]", auths) for i, s in enumerate(servers))
        if sqs is not None and sqs.access_keys is None:
            for i, listener in enumerate(listeners):
                if listener.authentication is not None:
                    raise self.fail(
                        "sqs.access_keys", f"required: servers[{i}] requires authentication"
                    )
        return Config(
            servers=listeners,
            storage=self.storage(top.get("storage", {"type": "sqlite"})),
            queue_names=names,
            limits=self.limits(top.get("limits", {})),
            log=self.log(top.get("log", {})),
            source=self.source,
            sqs=sqs,
        )

    def sqs(self, data: object) -> SqsConfig:
        fields = self.obj(data, "sqs", {"account", "region", "access_keys"})
        account = self.text(fields.get("account", "000000000000"), "sqs.account")
        if not re.fullmatch(r"[0-9]{12}", account):
            raise self.fail("sqs.account", "must be 12 digits")
        region = self.text(fields.get("region", "us-east-1"), "sqs.region")
        if not re.fullmatch(r"[a-z0-9-]{1,64}", region):
            raise self.fail("sqs.region", "must be a region name such as us-east-1")
        keys = None
        if "access_keys" in fields:
            keys = self.path(fields["access_keys"], "sqs.access_keys")
            if not keys.is_file():
                raise self.fail("sqs.access_keys", f"file {keys} does not exist")
        return SqsConfig(account, region, keys)

    def authentications(self, data: object, names: NamePolicy) -> dict[str, AuthConfig]:
        entries = self.obj(data, "authentication", set(data) if isinstance(data, dict) else set())
        result = {}
        for name, entry in entries.items():
            where = f"authentication.{name}"
            fields = self.obj(entry, where, {"type", "file", "permissions"})
            self.choice(fields.get("type"), f"{where}.type", ("plaintext",))
            file = self.path(fields.get("file"), f"{where}.file")
            if not file.is_file():
                raise self.fail(f"{where}.file", f"password file {file} does not exist")
            permissions = None
            if "permissions" in fields:
                permissions = self.permissions(fields["permissions"], f"{where}.permissions", names)
            result[name] = AuthConfig(name, "plaintext", file, permissions)
        return result

    def permissions(self, data: object, where: str, policy: NamePolicy) -> PermissionTable:
        """user → queue → rights; user names lower-case, queue names canonical."""

        names = QueueNames(policy, sqs=self.sqs_names)
        users = self.obj(data, where, set(data) if isinstance(data, dict) else set())
        table: PermissionTable = {}
        for user, rules in users.items():
            if not user:
                raise self.fail(where, "a user name must not be empty")
            at = f"{where}.{user}"
            queues = self.obj(rules, at, set(rules) if isinstance(rules, dict) else set())
            entry: dict[str, frozenset[str]] = {}
            for queue, rights in queues.items():
                if not isinstance(rights, str) or not set(rights) <= RIGHTS:
                    raise self.fail(f"{at}.{queue}", "must be a string of the rights r, w, m")
                if queue != "*":
                    try:
                        queue = names.parse(queue)
                    except DisqueueError:
                        raise self.fail(f"{at}.{queue}", "not a queue name (or *)") from None
                entry[queue] = frozenset(rights)
            table[user.lower()] = entry
        return table

    def listener(self, data: object, where: str, auths: dict[str, AuthConfig]) -> ListenerConfig:
        fields = self.obj(data, where, {"hostname", "port", "security", "authentication", "http"})
        auth = None
        if "authentication" in fields:
            name = self.text(fields["authentication"], f"{where}.authentication")
            if name not in auths:
                raise self.fail(f"{where}.authentication", f"no authentication named {name!r}")
            auth = auths[name]
        return ListenerConfig(
            hostname=self.text(fields.get("hostname", DEFAULT_HOST), f"{where}.hostname"),
            port=self.integer(fields.get("port", DEFAULT_PORT), f"{where}.port", 1, 65535),
            tls=self.tls(fields["security"], f"{where}.security") if "security" in fields else None,
            authentication=auth,
            http=cast(Any, self.choice(fields.get("http", "fast"), f"{where}.http", _STACKS)),
        )

    def tls(self, data: object, where: str) -> TLSConfig:
        fields = self.obj(data, where, {"certificate", "privatekey", "client_ca"})
        paths = {}
        for name in ("certificate", "privatekey"):
            paths[name] = self.path(fields.get(name), f"{where}.{name}")
            if not paths[name].is_file():
                raise self.fail(f"{where}.{name}", f"file {paths[name]} does not exist")
        client_ca = None
        if "client_ca" in fields:
            client_ca = self.path(fields["client_ca"], f"{where}.client_ca")
        return TLSConfig(paths["certificate"], paths["privatekey"], client_ca)

    def storage(self, data: object) -> StorageConfig:
        fields = self.obj(data, "storage", {"type", "path", "sync", "dsn", "schema", "pool"})
        kind = self.choice(fields.get("type"), "storage.type", ("sqlite", "memory", "postgres"))
        if kind == "postgres":
            self.obj(data, "storage", {"type", "dsn", "schema", "pool"})
            schema = self.text(fields.get("schema", "disqueue"), "storage.schema")
            if not re.fullmatch(r"[a-z_][a-z0-9_]{0,53}", schema):
                raise self.fail("storage.schema", "must be [a-z_][a-z0-9_]*, 54 characters at most")
            return StorageConfig(
                type="postgres",
                dsn=self.text(fields.get("dsn"), "storage.dsn"),
                schema=schema,
                pool=self.integer(fields.get("pool", 10), "storage.pool", 2, 1000),
            )
        self.obj(data, "storage", {"type", "path", "sync"})
        if kind == "memory":
            self.obj(data, "storage", {"type"})
            return StorageConfig(type="memory")
        path = self.path(fields.get("path", str(DEFAULT_DATABASE)), "storage.path")
        sync = self.choice(fields.get("sync", "full"), "storage.sync", ("full", "normal"))
        return StorageConfig(type="sqlite", path=path, sync=cast(Any, sync))

    def limits(self, data: object) -> Limits:
        fields = self.obj(data, "limits", set(Limits.__dataclass_fields__))
        values = {name: self.integer(value, f"limits.{name}", 1) for name, value in fields.items()}
        return replace(Limits(), **values)

    def log(self, data: object) -> LogConfig:
        fields = self.obj(data, "log", {"level", "format", "access"})
        level = self.choice(
            fields.get("level", "info"), "log.level", ("debug", "info", "warning", "error")
        )
        fmt = self.choice(fields.get("format", "text"), "log.format", ("text", "json"))
        access = fields.get("access", False)
        if not isinstance(access, bool):
            raise self.fail("log.access", "must be true or false")
        return LogConfig(level=cast(Any, level), format=cast(Any, fmt), access=access)
