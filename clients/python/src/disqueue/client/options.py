"""Where the server is and how to reach it: URL, credentials, TLS, timeout.

Arguments win; what is left out comes from the environment (`DISQUEUE_URL`,
`DISQUEUE_USER`, `DISQUEUE_PASSWORD`), then from the defaults (the server's own
`http://127.0.0.1:3682`, no credentials, the system's trusted CAs).
"""

from __future__ import annotations

import base64
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

DEFAULT_URL = "http://127.0.0.1:3682"
#: Seconds to connect, and to wait for an answer beyond any `wait` the request asks for.
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Options:
    """How to reach one server; built by `Options.resolve`."""

    url: str
    auth: tuple[str, str] | None = None
    ca_file: str | None = None
    cert: str | None = None
    key: str | None = None
    verify: bool = True
    timeout: float = DEFAULT_TIMEOUT

    @property
    def auth_headers(self) -> dict[str, str]:
        """The Basic `Authorization` header of `auth` (none without it), for the
        WebSocket connections (aiohttp 3.14 deprecates its BasicAuth)."""
        if self.auth is None:
            return {}
        token = base64.b64encode(":".join(self.auth).encode()).decode()
        return {"Authorization": f"Basic {token}"}

    @classmethod
    def resolve(
        cls,
        url: str | None = None,
        auth: tuple[str, str] | None = None,
        *,
        ca_file: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        verify: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        env: Mapping[str, str] | None = None,
    ) -> Options:
        """Options from the arguments, the environment for what they leave out, and
        the defaults. `cert` is a PEM file with the client certificate (and its key,
        unless `key` names another file)."""
        environ = os.environ if env is None else env
        base = (url or environ.get("DISQUEUE_URL") or DEFAULT_URL).rstrip("/")
        if auth is None and environ.get("DISQUEUE_USER"):
            auth = (environ["DISQUEUE_USER"], environ.get("DISQUEUE_PASSWORD", ""))
        return cls(base, auth, ca_file, cert, key, verify, timeout)

    @property
    def ws_url(self) -> str:
        """The `/take/ws` URL of the listener."""
        scheme, rest = self.url.split("://", 1)
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/take/ws"

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for https/wss URLs (None for plain http)."""
        if not self.url.startswith("https://"):
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert:
            context.load_cert_chain(self.cert, self.key)
        return context
