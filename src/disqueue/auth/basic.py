"""HTTP Basic authentication of one listener."""

from __future__ import annotations

import binascii

from aiohttp import BasicAuth as _BasicHeader

from disqueue.auth.passwords import PasswordFile
from disqueue.errors import AuthenticationRequired, Forbidden


class BasicAuth:
    """Checks an `Authorization` header against a password file.

    No header → `AuthenticationRequired` (401, with the realm in
    `WWW-Authenticate`); a header that is not Basic or has a wrong user or
    password → `Forbidden` (403).
    """

    def __init__(self, realm: str, passwords: PasswordFile) -> None:
        self.realm = realm
        self.passwords = passwords
        self.challenge = f'Basic realm="{realm}"'

    def check(self, header: str | None) -> str:
        """The authenticated user's name, or an error."""
        if not header:
            raise AuthenticationRequired()
        try:
            credentials = _BasicHeader.decode(header, encoding="utf-8")
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise Forbidden() from exc
        if not self.passwords.check(credentials.login, credentials.password):
            raise Forbidden()
        return str(credentials.login)
