"""What an SQS action is given: the core, the request's queue and rights, the endpoint."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from disqueue.auth.permissions import Access, Right
from disqueue.config import SqsConfig
from disqueue.core import QueueService
from disqueue.errors import InvalidQueueId
from disqueue.server.sqs.errors import SqsError, invalid, missing, no_queue


class Sequencer:
    """FIFO SequenceNumbers: 20 digits, growing on this node (nanoseconds since the epoch,
    made strictly larger than the last one given)."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> str:
        self._last = max(self._last + 1, time.time_ns())
        return f"{self._last:020d}"


class FirstReceipts:
    """ApproximateFirstReceiveTimestamp: the time of a message's first delivery is now
    when it is delivered the first time; for later deliveries this node remembers it
    (the latest `LIMIT` messages), else it is unknown and the send time stands in."""

    LIMIT = 100_000

    def __init__(self) -> None:
        self._first: OrderedDict[str, str] = OrderedDict()

    def stamp(self, item_id: str, attempts: int, sent: str | None) -> str | None:
        if attempts <= 1:
            self._first[item_id] = now = str(int(time.time() * 1000))
            if len(self._first) > self.LIMIT:
                self._first.popitem(last=False)
            return now
        return self._first.get(item_id, sent)


@dataclass(frozen=True, slots=True)
class Context:
    service: QueueService
    config: SqsConfig
    sequencer: Sequencer
    first_receipts: FirstReceipts
    #: `<scheme>://<host>` of the request: the start of every QueueUrl answered.
    base: str
    access: Access | None
    #: The queue a request sent to a queue URL names (None: sent to `/`).
    path_queue: str | None
    #: Whether the client hung up (long polls look).
    gone: Callable[[], bool] | None

    def url(self, name: str) -> str:
        return f"{self.base}/{self.config.account}/{name}"

    def require(self, right: Right, queue: str | None) -> None:
        if self.access is not None and not self.access.allows(right, queue):
            raise SqsError("AccessDenied", "Access to the resource is denied.")

    def queue(self, params: dict[str, Any], right: Right) -> str:
        """The canonical name of the queue `QueueUrl` (or the request's path) names, after
        checking the user's `right` on it. The URL's host and account are not looked at."""
        url = params.get("QueueUrl")
        if url is None:
            if self.path_queue is None:
                raise missing("QueueUrl")
            url = self.path_queue
        if not isinstance(url, str) or not url:
            raise invalid("Value for parameter QueueUrl is invalid.")
        name = url.rstrip("/").rsplit("/", 1)[-1]
        try:
            name = self.service.names.parse(name)
        except InvalidQueueId:
            raise no_queue() from None
        self.require(right, name)
        return name


def integer(params: dict[str, Any], name: str, low: int, high: int, reason: str) -> int | None:
    """An integer parameter within [low, high], or None when absent (JSON numbers, or the
    Query protocol's text)."""
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(f"Value {params.get(name)} for parameter {name} is invalid. Reason: {reason}")
    return value


def text(params: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise missing(name)
        return None
    if not isinstance(value, str):
        raise invalid(f"Value for parameter {name} is invalid.")
    return value
