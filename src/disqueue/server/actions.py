"""The actions both transports offer: a put, and the ends of a lease (ack, release,
touch), one or a batch. An HTTP route (`http.py`) and a WebSocket op (`websocket.py`)
for the same action run the same function here, after the same rights check.

Each action reads its parameters from `Params` (a form, a JSON body or a WebSocket
message) and answers the payload of the HTTP envelope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from disqueue import wire
from disqueue.auth.permissions import READ, WRITE, Need
from disqueue.core import QueueService, contract
from disqueue.core.contract import LeaseRef
from disqueue.errors import BadRequest, DisqueueError, MissingParameter, NoSuchLease
from disqueue.models import NewItem
from disqueue.server.params import Params

#: At most this many items in one batch put or one take with `count`, and receipts in
#: one batch ack, release or touch (the protocol description, `wire.json`).
MAX_BATCH = wire.MAX_BATCH
_PLAIN = frozenset({"value", "key"})

Run = Callable[[QueueService, str, Params], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Action:
    """What an action needs (rights on the queue it names, Need.param "name") and does
    (given the service, the queue's name and the request's parameters)."""

    needs: tuple[Need, ...]
    run: Run


def new_item(params: Params) -> NewItem:
    """An item to put, from `value`, `key` and the put options."""
    return NewItem(
        value=params.require("value"),
        key=params.get("key"),
        delay=params.number("delay"),
        ttl=params.number("ttl"),
        dedup_id=params.get("dedup_id"),
        headers=headers(params),
        priority=params.integer("priority") or 0,
    )


def headers(params: Params) -> dict[str, str] | None:
    """A put's `headers`: a JSON object, or (from a form) its JSON text; the service
    checks them against the contract's limits."""
    raw = params.raw("headers")
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw) if raw.strip() else None
        except orjson.JSONDecodeError:
            raise BadRequest("invalid parameter 'headers': must be an object of strings") from None
    if raw is None:
        return None
    fault = contract.headers_fault(raw)
    if fault is not None:
        raise BadRequest(f"invalid parameter 'headers': {fault}")
    return raw or None


def _batch(raw: Any) -> list[NewItem]:
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_BATCH:
        raise BadRequest("invalid parameter 'items'")
    items = []
    for index, entry in enumerate(raw):
        if type(entry) is dict and len(entry) == 1:  # the usual item: a value alone
            value = entry.get("value")
            if type(value) is str and "\x00" not in value:
                items.append(NewItem(value))
                continue
        try:
            if not isinstance(entry, dict):
                raise BadRequest("must be an object")
            value, key = entry.get("value"), entry.get("key")
            if (
                entry.keys() <= _PLAIN
                and isinstance(value, str)
                and isinstance(key, str | None)
                and "\x00" not in value
                and (key is None or "\x00" not in key)
            ):
                items.append(NewItem(value, key))  # the common case, without the options
            else:
                items.append(new_item(Params(entry)))
        except DisqueueError as exc:
            raise BadRequest(f"items[{index}]: {exc.message}") from exc
    return items


async def put(service: QueueService, queue: str, params: Params) -> dict[str, Any]:
    """One item (`{"id": ...}`), or a batch of `items` (`{"ids": [...]}`)."""
    if params.has("items"):
        return {"ids": await service.put_many(queue, _batch(params.raw("items")))}
    return {"id": await service.put(queue, new_item(params))}


# -- the ends of a lease --------------------------------------------------------------------


class _Leases:
    """The leases a request names: one (`receipt`, or `id` as in Part 2), or a batch
    (`receipts`). Text that cannot be a receipt names no lease."""

    def __init__(self, params: Params) -> None:
        self.batch = params.has("receipts")
        if self.batch:
            raw = params.raw("receipts")
            if (
                not isinstance(raw, list)
                or not 0 < len(raw) <= MAX_BATCH
                or not all([isinstance(r, str) for r in raw])  # (a list: no generator)
            ):
                raise BadRequest("invalid parameter 'receipts'")
            self.texts: list[str] = raw
        elif params.has("receipt"):
            self.texts = [params.require("receipt")]
        elif params.has("id"):
            self.texts = []
            self.refs = [LeaseRef(params.require("id"))]
            return
        else:
            raise MissingParameter("id")
        parsed = contract.parse_receipts(self.texts)
        self.refs = [ref for ref in parsed if ref is not None]
        self._valid = None if len(self.refs) == len(parsed) else [
            i for i, ref in enumerate(parsed) if ref is not None
        ]  # fmt: skip

    def answer(self, found: list[bool], single: Any) -> Any:
        """The payload: `single` for one lease found (404 `no such lease` if it was
        not), `{"done", "missing"}` for a batch."""
        if not self.batch:
            if not (found and found[0]):
                raise NoSuchLease()
            return single
        if self._valid is None and all(found):  # the usual batch: every lease ended
            return {"done": len(found), "missing": []}
        valid = self._valid or range(len(found))
        hits = {valid[i] for i, hit in enumerate(found) if hit}
        missing = [text for i, text in enumerate(self.texts) if i not in hits]
        return {"done": len(hits), "missing": missing}


async def ack(service: QueueService, queue: str, params: Params) -> Any:
    leases = _Leases(params)
    found = await service.ack_many(queue, leases.refs) if leases.refs else []
    return leases.answer(found, None)


async def release(service: QueueService, queue: str, params: Params) -> Any:
    leases = _Leases(params)
    delay = params.number("delay")  # None: the queue's retry delay, if it has one
    found = await service.release_many(queue, leases.refs, delay) if leases.refs else []
    return leases.answer(found, None)


async def touch(service: QueueService, queue: str, params: Params) -> Any:
    """Every lease touched gets the same new end, `lease_expires`."""
    leases = _Leases(params)
    seconds = params.number("lease")
    if seconds is None:
        raise MissingParameter("lease")
    until = await service.touch_many(queue, leases.refs, seconds) if leases.refs else []
    ends = [end for end in until if end is not None]
    expires = {"lease_expires": ends[0] if ends else None}
    answer = leases.answer([end is not None for end in until], expires)
    return answer if not leases.batch else {**answer, **expires}


ACTIONS: dict[str, Action] = {
    "put": Action((Need(WRITE),), put),
    "ack": Action((Need(READ),), ack),
    "release": Action((Need(READ),), release),
    "touch": Action((Need(READ),), touch),
}
