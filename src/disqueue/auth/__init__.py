"""Who may use a listener: password files, HTTP Basic authentication, permissions."""

from disqueue.auth.basic import BasicAuth
from disqueue.auth.passwords import PasswordFile
from disqueue.auth.permissions import Access, Permissions
from disqueue.auth.throttle import LoginThrottle

__all__ = ["Access", "BasicAuth", "LoginThrottle", "PasswordFile", "Permissions"]
