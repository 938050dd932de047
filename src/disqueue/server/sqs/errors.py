"""AWS's SQS errors, and the answers they become.

An `SqsError` knows its shape name (the JSON protocol's `__type`, botocore's exception
class), its Query-protocol code (the `x-amzn-query-error` header and the XML `Code`), its
status and whether the sender is at fault. `of_core` maps the core's errors to them, at
one boundary.
"""

from __future__ import annotations

from disqueue.errors import (
    BadRequest,
    Conflict,
    DisqueueError,
    Forbidden,
    NotFound,
    QueueFull,
    QueueNotFound,
    StorageUnavailable,
    TooLarge,
    TooMany,
)

_PREFIX = "AWS.SimpleQueueService."

#: Shape name → its Query code, where the two differ (AWS's SQS API reference).
_CODES = {
    "QueueDoesNotExist": _PREFIX + "NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "QueueDeletedRecently": _PREFIX + "QueueDeletedRecently",
    "MessageNotInflight": _PREFIX + "MessageNotInflight",
    "BatchEntryIdsNotDistinct": _PREFIX + "BatchEntryIdsNotDistinct",
    "BatchRequestTooLong": _PREFIX + "BatchRequestTooLong",
    "EmptyBatchRequest": _PREFIX + "EmptyBatchRequest",
    "InvalidBatchEntryId": _PREFIX + "InvalidBatchEntryId",
    "TooManyEntriesInBatchRequest": _PREFIX + "TooManyEntriesInBatchRequest",
    "UnsupportedOperation": _PREFIX + "UnsupportedOperation",
    "PurgeQueueInProgress": _PREFIX + "PurgeQueueInProgress",
}

#: Shapes whose status is not 400.
_STATUS = {
    "InvalidClientTokenId": 403,
    "SignatureDoesNotMatch": 403,
    "AccessDenied": 403,
    "OverLimit": 403,
    "RequestThrottled": 400,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
}


class SqsError(Exception):
    """An SQS error answer."""

    def __init__(self, shape: str, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.shape = shape
        self.message = message
        self.code = _CODES.get(shape, shape)
        self.status = _STATUS.get(shape, 400)
        self.sender = self.status < 500
        self.headers = headers or {}


def invalid(message: str) -> SqsError:
    return SqsError("InvalidParameterValue", message)


def missing(name: str) -> SqsError:
    return SqsError("MissingParameter", f"The request must contain the parameter {name}.")


def no_queue() -> SqsError:
    return SqsError("QueueDoesNotExist", "The specified queue does not exist.")


def of_core(exc: DisqueueError) -> SqsError:
    """The SQS error for an error of the core (a queue's limits, storage, rights)."""
    if isinstance(exc, QueueNotFound):
        return no_queue()
    if isinstance(exc, Conflict):
        return SqsError(
            "QueueNameExists",
            "A queue already exists with the same name and a different value for attribute(s).",
        )
    if isinstance(exc, QueueFull):
        return SqsError("OverLimit", "The queue holds as many messages as it may.")
    if isinstance(exc, TooMany):
        return SqsError("RequestThrottled", exc.message, headers=exc.headers)
    if isinstance(exc, Forbidden):
        return SqsError("AccessDenied", "Access to the resource is denied.")
    if isinstance(exc, TooLarge):
        return invalid(exc.message)
    if isinstance(exc, NotFound | BadRequest):
        return invalid(exc.message)
    if isinstance(exc, StorageUnavailable):
        return SqsError("ServiceUnavailable", exc.message)
    return SqsError("InternalFailure", exc.message)
