"""HTTP Basic authentication of one listener."""

from __future__ import annotations

import binascii

from aiohttp import BasicAuth as _BasicHeader

from disqueue.auth.passwords import PasswordFile
from disqueue.auth.permissions import Access, Permissions
from disqueue.auth.throttle import LoginThrottle
from disqueue.errors import AuthenticationRequired, Forbidden


class BasicAuth:
    """Checks an `Authorization` header against a password file.

    No header → `AuthenticationRequired` (401, with the realm in
    `WWW-Authenticate`); a header that is not Basic or has a wrong user or
    password → `Forbidden` (403), counted against the remote address by the
    throttle, which answers `TooManyLogins` (429) to an address with too many.
    """

    def __init__(
        self,
        realm: str,
        passwords: PasswordFile,
        permissions: Permissions | None = None,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.realm = realm
        self.passwords = passwords
        self.permissions = permissions
        self.throttle = throttle
        self.challenge = f'Basic realm="{realm}"'

    async def authenticate(self, header: str | None, remote: str | None = None) -> Access | None:
        """What the authenticated user may do (None: everything), or an error."""
        if not header:
            raise AuthenticationRequired()
        if self.throttle is not None:
            self.throttle.check(remote)
        try:
            credentials = _BasicHeader.decode(header, encoding="utf-8")
            if await self.passwords.verify(credentials.login, credentials.password):
                user = str(credentials.login)
                return None if self.permissions is None else self.permissions.of(user)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            pass
        if self.throttle is not None:
            self.throttle.failed(remote)
        raise Forbidden()
