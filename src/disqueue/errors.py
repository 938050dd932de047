"""The one exception tree of Disqueue.

Each error knows its HTTP status and its protocol message, so the mapping to the
wire lives here and nowhere else::

    DisqueueError
    ├── BadRequest (400)            invalid queue id, missing parameter, ...
    ├── AuthenticationRequired (401)
    ├── Forbidden (403)             invalid credentials, permission denied
    ├── NotFound (404)              queue does not exist, no item to take, no such lease
    ├── MethodNotAllowed (405)
    ├── RequestTimeout (408)        a request body that takes too long to arrive
    ├── Conflict (409)              queue exists with other settings
    ├── TooLarge (413)              value too large, request body too large, ...
    ├── TooMany (429)               too many queues, queue is full, too many failed logins
    ├── HeaderTooLarge (431)        request line or header line over the limit
    ├── StorageFailure (500)
    ├── StorageUnavailable (503)    the database cannot be reached; try again
    └── ConfigError                 not a request error: the server cannot start
"""

from __future__ import annotations


class DisqueueError(Exception):
    """Base of every Disqueue error; `status` and `message` are what the client sees."""

    status: int = 500
    default_message: str = "internal error"
    #: Extra response headers (e.g. `Retry-After`).
    headers: dict[str, str] | None = None

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(self.message)


class BadRequest(DisqueueError):
    status = 400
    default_message = "bad request"


class InvalidQueueId(BadRequest):
    default_message = "invalid queue id"


class MissingParameter(BadRequest):
    def __init__(self, name: str) -> None:
        super().__init__(f"missing parameter '{name}'")


class InvalidParameter(BadRequest):
    def __init__(self, name: str, problem: str = "must be a string") -> None:
        super().__init__(f"parameter '{name}' {problem}")


class AuthenticationRequired(DisqueueError):
    status = 401
    default_message = "authentication required"


class Forbidden(DisqueueError):
    status = 403
    default_message = "invalid credentials"


class PermissionDenied(Forbidden):
    """The user is known, but may not do this to this queue (CONFIG.md `permissions`)."""

    default_message = "permission denied"


class NotFound(DisqueueError):
    status = 404
    default_message = "not found"


class QueueNotFound(NotFound):
    default_message = "queue does not exist"


class NoItem(NotFound):
    """No item matched a take or peek; the message names the action."""

    def __init__(self, action: str) -> None:
        super().__init__(f"no item to {action}")


class MethodNotAllowed(DisqueueError):
    status = 405
    default_message = "method not supported"


class RequestTimeout(DisqueueError):
    status = 408
    default_message = "request timeout"


class TooLarge(DisqueueError):
    status = 413
    default_message = "request body too large"


class Conflict(DisqueueError):
    status = 409
    default_message = "queue exists with other settings"


class TooMany(DisqueueError):
    status = 429
    default_message = "too many requests"


class QueueFull(TooMany):
    default_message = "queue is full"


class TooManyLogins(TooMany):
    """Too many failed logins from one address lately; `Retry-After` says when to retry."""

    default_message = "too many failed logins"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.headers = {"Retry-After": str(retry_after)}


class HeaderTooLarge(DisqueueError):
    status = 431
    default_message = "request header too large"


class NoSuchLease(NotFound):
    default_message = "no such lease"


class StorageFailure(DisqueueError):
    status = 500
    default_message = "storage failure"


class StorageUnavailable(DisqueueError):
    """The storage cannot be reached right now (a database restarting); nothing was
    changed, and the same request may be sent again."""

    status = 503
    default_message = "storage unavailable"


class ConfigError(DisqueueError):
    """The configuration cannot be used; the message names the file and the field."""

    status = 500
