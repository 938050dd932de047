"""The client's exception tree: every failure the server reports, told apart by its
status and message (API.md), mapped back at one place, `error_for`::

    ClientError  (alias: QueueException, the original client's name)
    ├── ConnectionFailed        the server could not be reached, or the connection broke
    ├── BadRequest (400)        invalid queue id, missing or invalid parameter, ...
    ├── AuthError (401, 403)    authentication required, invalid credentials
    │   └── PermissionDenied    403 for a reason other than wrong credentials
    ├── NotFound (404)
    │   ├── QueueNotFound       queue does not exist
    │   ├── NoItem              no item to take / no item to peek
    │   └── NoSuchLease         the lease was acked, expired or released
    ├── QueueExists (409)       queue exists with other settings
    ├── TooLarge (413)          value too large, request body too large, ...
    ├── TooMany (429)
    │   └── QueueFull           queue is full
    └── ServerError (5xx)       storage failure, storage unavailable, ...
"""

from __future__ import annotations


class ClientError(Exception):
    """Base of every error the client raises. `status` is the HTTP status (None when
    there was none: a WebSocket error frame or no connection); `message` is the
    server's reason, as in the response envelope."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


#: The original Python client raised `QueueException` on every failed request.
QueueException = ClientError


class ConnectionFailed(ClientError):
    """The server could not be reached, did not answer in time, or answered with
    something that is not the protocol's envelope."""


class BadRequest(ClientError):
    """400: the request was malformed (`invalid queue id`, `missing parameter 'value'`)."""


class AuthError(ClientError):
    """401 or 403: no credentials where the listener needs them, or wrong ones."""


class PermissionDenied(AuthError):
    """403: the credentials are valid but do not allow this request."""


class NotFound(ClientError):
    """404: the thing named does not exist (or the path is unknown)."""


class QueueNotFound(NotFound):
    """The queue does not exist."""


class NoItem(NotFound):
    """No item matched a take or a peek (a long poll that ran out included)."""


class NoSuchLease(NotFound):
    """ack/release/touch named a lease that is unknown: acked, expired or released."""


class QueueExists(ClientError):
    """409: `create_queue` of an existing queue with settings other than its own."""


class TooLarge(ClientError):
    """413: a value, key or body above the server's limits."""


class TooMany(ClientError):
    """429: a limit on counts was reached (`too many queues`)."""


class QueueFull(TooMany):
    """429 `queue is full`: the queue's `max_items` is reached."""


class ServerError(ClientError):
    """5xx: the server failed (`storage failure`) or cannot serve now (503)."""


#: What a refused WebSocket handshake means, by its status.
HANDSHAKE_REASONS = {401: "authentication required", 403: "invalid credentials"}

_BY_MESSAGE: dict[str, type[ClientError]] = {
    "queue does not exist": QueueNotFound,
    "queue not found": QueueNotFound,  # the WebSocket's wording
    "dead letter queue does not exist": QueueNotFound,
    "no item to take": NoItem,
    "no item to peek": NoItem,
    "no such lease": NoSuchLease,
    "queue is full": QueueFull,
    "queue exists with other settings": QueueExists,
    "authentication required": AuthError,
    "invalid credentials": AuthError,
    # A WebSocket op's error has no status: these name their class (the ones a put can get).
    "permission denied": PermissionDenied,
    "storage failure": ServerError,
    "storage unavailable": ServerError,
}

_BY_STATUS: dict[int, type[ClientError]] = {
    400: BadRequest,
    401: AuthError,
    403: PermissionDenied,
    404: NotFound,
    409: QueueExists,
    413: TooLarge,
    429: TooMany,
}


def error_for(status: int | None, message: str) -> ClientError:
    """The exception for a failure answer: by message where it names one exactly,
    else by status."""
    kind = _BY_MESSAGE.get(message)
    if kind is None and status is not None:
        kind = _BY_STATUS.get(status, ServerError if status >= 500 else ClientError)
    if kind is None:
        malformed = message.startswith(("invalid", "missing", "parameter", "items["))
        kind = BadRequest if malformed else ClientError
    return kind(message, status)
