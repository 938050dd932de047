"""The API's actions as requests and answers, without I/O.

Each function builds the `Call` for one action: its method, path, parameters and
how to read the payload of a successful answer. `Client` and `AsyncClient` send
the same calls, one synchronously and one asynchronously, and read the envelope
with `read_answer`; so the protocol is written down once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from disqueue.client.errors import ConnectionFailed, error_for
from disqueue.client.models import Item, QueueInfo, Settled

T = TypeVar("T")
#: An item to put: a value, a (value, key) pair, or a mapping with `value` and
#: optionally `key`, `delay`, `ttl`, `dedup_id`, `headers` (a mapping of strings),
#: `priority` (0-9).
NewItem = str | tuple[str, str | None] | Mapping[str, Any]
#: At most this many items in one batch put or one take (API.md Part 2).
MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One HTTP request of the API and how to read its payload."""

    method: str
    path: str
    parse: Callable[[Any], T]
    form: dict[str, str] | None = None
    json: dict[str, Any] | None = None
    wait: float = 0.0  # seconds the server may hold the request (long poll)


def _form(**params: object) -> dict[str, str]:
    """Form parameters; None leaves a parameter out, numbers are written as text."""
    return {name: _text(value) for name, value in params.items() if value is not None}


def _text(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def _none(payload: Any) -> None:
    return None


def json_body(value: dict[str, Any]) -> bytes:
    """A JSON request body. orjson: a batch of 1000 items is encoded several times
    faster than by `json` (which still writes what orjson refuses, e.g. huge integers,
    for the server to answer)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value).encode()


def read_answer(call: Call[T], status: int, body: bytes) -> T:
    """The payload of a successful answer, read by the call; else the mapped error."""
    try:
        envelope = orjson.loads(body)
        success, message = envelope["success"], envelope["message"]
    except (ValueError, TypeError, KeyError) as exc:
        raise ConnectionFailed(
            f"{call.path} answered {status} without the protocol envelope", status
        ) from exc
    if success is True and 200 <= status < 300:
        return call.parse(envelope.get("payload"))
    raise error_for(status, message if isinstance(message, str) and message else f"{status}")


def queues() -> Call[list[str]]:
    """`GET /queues`."""
    return Call("GET", "/queues", list)


def create_queue(
    name: str | None = None,
    *,
    lease: float | None = None,
    max_attempts: int | None = None,
    dead_letter: str | None = None,
    max_items: int | None = None,
    retry_delays: Sequence[float] | None = None,
    delay: float | None = None,
    ttl: float | None = None,
    ordered: bool = False,
) -> Call[str]:
    """`POST /queues`. `ordered`: each key a group, delivered in put order (fixed)."""
    form = _form(
        name=name,
        lease=lease,
        max_attempts=max_attempts,
        dead_letter=dead_letter,
        max_items=max_items,
        retry_delays=None if not retry_delays else _delays(retry_delays),
        delay=delay,
        ttl=ttl,
        ordered="1" if ordered else None,
    )
    return Call("POST", "/queues", str, form)


def info(queue: str) -> Call[QueueInfo]:
    """`POST /queue`."""
    return Call("POST", "/queue", QueueInfo.from_payload, _form(name=queue))


def _stats(payload: Any) -> list[QueueInfo]:
    return [
        QueueInfo.from_payload({**queue, "size": queue.get("ready")}) for queue in payload["queues"]
    ]


def stats() -> Call[list[QueueInfo]]:
    """`GET /stats` (a server addition): every queue's depths and totals at once."""
    return Call("GET", "/stats", _stats)


def delete_queue(queue: str) -> Call[None]:
    """`DELETE /queue`."""
    return Call("DELETE", "/queue", _none, _form(name=queue))


def purge(queue: str, *, in_flight: bool = False) -> Call[int]:
    """`POST /purge` (with `in_flight`, the items in flight too); how many were removed."""
    form = _form(name=queue, in_flight="1" if in_flight else None)
    return Call("POST", "/purge", lambda payload: int(payload["purged"]), form)


def _delays(delays: Sequence[float]) -> str:
    return ",".join(map(repr, delays))


#: What `change_settings` may change (`ordered` never changes).
SETTINGS = frozenset(
    {"lease", "max_attempts", "dead_letter", "max_items", "retry_delays", "delay", "ttl"}
)


def change_settings(queue: str, changes: Mapping[str, Any]) -> Call[QueueInfo]:
    """`POST /queue/settings`: each of `changes` (None clears a setting); the queue's
    information."""
    unknown = set(changes) - SETTINGS
    if unknown:
        raise TypeError(f"not a queue setting: {', '.join(sorted(unknown))}")
    form = {"name": queue}
    for name, value in changes.items():
        if value is None or (name == "retry_delays" and not value):
            form[name] = ""
        else:
            form[name] = _delays(value) if name == "retry_delays" else _text(value)
    return Call("POST", "/queue/settings", QueueInfo.from_payload, form)


def redrive(queue: str, to: str | None = None, count: int | None = None) -> Call[int]:
    """`POST /redrive`: dead letters back to `to` or where they came from; how many."""
    form = _form(name=queue, to=to, count=count)
    return Call("POST", "/redrive", lambda payload: int(payload["moved"]), form)


def pause(queue: str) -> Call[QueueInfo]:
    """`POST /pause`: deliver nothing (puts go on); the queue's information."""
    return Call("POST", "/pause", QueueInfo.from_payload, _form(name=queue))


def resume(queue: str) -> Call[QueueInfo]:
    """`POST /resume`: deliver again; the queue's information."""
    return Call("POST", "/resume", QueueInfo.from_payload, _form(name=queue))


def put(fields: Mapping[str, Any]) -> Call[str]:
    """`POST /put` of one item (`put_fields`); its id. `headers` go as JSON text, as a
    form sends them."""
    form = {
        "name" if name == "queue" else name: json.dumps(given) if name == "headers" else given
        for name, given in fields.items()
    }
    return Call("POST", "/put", lambda payload: str(payload["id"]), _form(**form))


def put_fields(
    queue: str,
    value: str,
    key: str | None = None,
    *,
    delay: float | None = None,
    ttl: float | None = None,
    dedup_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    priority: int | None = None,
) -> dict[str, Any]:
    """One item's put: the fields of a WebSocket put (headers a JSON object), which
    `put` makes a form of."""
    fields = {
        "queue": queue, "value": value, "key": key, "delay": delay, "ttl": ttl,
        "dedup_id": dedup_id, "headers": dict(headers) if headers else None,
        "priority": priority,
    }  # fmt: skip
    return {name: given for name, given in fields.items() if given is not None}


def _new_item(item: NewItem) -> dict[str, Any]:
    if isinstance(item, str):
        return {"value": item}
    if isinstance(item, tuple):
        value, key = item
        return {"value": value} if key is None else {"value": value, "key": key}
    return {name: value for name, value in item.items() if value is not None}


def entries(items: Iterable[NewItem]) -> list[dict[str, Any]]:
    """The `items` of a batch put."""
    # (a plain value, the usual item, without a call per item)
    return [{"value": item} if type(item) is str else _new_item(item) for item in items]


def stored_ids(payload: Any) -> list[str]:
    """The ids of a batch put's answer."""
    return [str(i) for i in payload["ids"]]


def put_many(queue: str, items: Iterable[NewItem]) -> Call[list[str]]:
    """`POST /put` of a batch (1 to 1000 items, all stored or none); their ids."""
    return Call("POST", "/put", stored_ids, json={"name": queue, "items": entries(items)})


def batches(items: Iterable[NewItem], size: int = MAX_BATCH) -> Iterable[list[NewItem]]:
    """`items` in lists of at most `size`."""
    batch: list[NewItem] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def take(
    queue: str,
    key: str | None = None,
    *,
    lease: float | None = None,
    wait: float | None = None,
    count: int | None = None,
) -> Call[Any]:
    """`POST /take`: an `Item`, or with `count` a list of up to `count` items."""
    form = _form(name=queue, key=key, lease=lease, wait=wait, count=count)
    parse: Callable[[Any], Any] = Item.from_payload if count is None else _items
    return Call("POST", "/take", parse, form, wait=wait or 0.0)


def _items(payload: Any) -> list[Item]:
    return [Item.from_payload(entry) for entry in payload]


def peek(queue: str, key: str | None = None) -> Call[Item]:
    """`POST /peek`."""
    return Call("POST", "/peek", Item.from_payload, _form(name=queue, key=key))


#: What names a lease: a delivered `Item` (its receipt is sent), or text: a receipt, or
#: an item id (Part 2: whatever lease the item has now).
Lease = Item | str


def lease_params(lease: Lease) -> dict[str, str]:
    """The parameter that names `lease`: `receipt` whenever there is one. (Item ids
    never contain a dot, and receipts always do.)"""
    if isinstance(lease, Item):
        if lease.receipt is not None:
            return {"receipt": lease.receipt}
        if lease.id is None:
            raise ValueError("this item was not delivered with a lease")
        return {"id": lease.id}
    return {"receipt": lease} if "." in lease else {"id": lease}


def _receipts(leases: Iterable[Lease]) -> list[str]:
    receipts = []
    for lease in leases:
        named = lease_params(lease)
        if "receipt" not in named:
            raise ValueError(f"a batch names leases by receipt, not by id ({named['id']})")
        receipts.append(named["receipt"])
    if not 0 < len(receipts) <= MAX_BATCH:
        raise ValueError(f"a batch names 1 to {MAX_BATCH} leases")
    return receipts


def ack(queue: str, lease: Lease) -> Call[None]:
    """`POST /ack`."""
    return Call("POST", "/ack", _none, _form(name=queue, **lease_params(lease)))


def release(queue: str, lease: Lease, delay: float | None = None) -> Call[None]:
    """`POST /release`."""
    form = _form(name=queue, delay=delay, **lease_params(lease))
    return Call("POST", "/release", _none, form)


def touch(queue: str, lease: Lease, seconds: float) -> Call[float]:
    """`POST /touch`; the new `lease_expires` (Unix time)."""
    form = _form(name=queue, lease=seconds, **lease_params(lease))
    return Call("POST", "/touch", lambda payload: float(payload["lease_expires"]), form)


def ack_many(queue: str, leases: Iterable[Lease]) -> Call[Settled]:
    """`POST /ack` with `receipts`: a batch (up to 1000); those not live are `missing`."""
    body = {"name": queue, "receipts": _receipts(leases)}
    return Call("POST", "/ack", Settled.from_payload, json=body)


def release_many(queue: str, leases: Iterable[Lease], delay: float | None = None) -> Call[Settled]:
    """`POST /release` with `receipts`; the items keep their order at the front."""
    body: dict[str, Any] = {"name": queue, "receipts": _receipts(leases)}
    if delay is not None:
        body["delay"] = delay
    return Call("POST", "/release", Settled.from_payload, json=body)


def touch_many(queue: str, leases: Iterable[Lease], seconds: float) -> Call[Settled]:
    """`POST /touch` with `receipts`: each lease ends `seconds` from now."""
    body = {"name": queue, "receipts": _receipts(leases), "lease": seconds}
    return Call("POST", "/touch", Settled.from_payload, json=body)
