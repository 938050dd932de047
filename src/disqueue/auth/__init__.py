"""Who may use a listener: password files and HTTP Basic authentication."""

from disqueue.auth.basic import BasicAuth
from disqueue.auth.passwords import PasswordFile

__all__ = ["BasicAuth", "PasswordFile"]
