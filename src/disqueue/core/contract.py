"""The delivery contract: what happens to an item at each event, decided in one place.

Pure and I/O-free: every function takes the time (`now`) it decides at, so a test can
drive it with a fake clock. Each backend follows these decisions, whatever it keeps its
items in: the embedded backends (`storage/embedded/rules.py`) over their in-memory
state, the PostgreSQL backend (`storage/postgres/`) in Python around its statements.
Where a statement must decide on its own (the `WHERE` of a take, of an ack), the model
test (`tests/conformance/test_model.py`) holds it to the same answers on every backend,
with a fake clock and restarts.

The life of an item (API.md Parts 2 and 3):

- **Put.** An item gets a *position* at the back of its queue. With `delay` it is
  *delayed* until then; with `ttl` it is dropped (counted `expired`) if still queued
  (ready or delayed) when the ttl ends. An item put without its own `delay` or `ttl`
  gets the queue's (`placement`); they are fixed at the put, so a later change of the
  queue's defaults leaves queued items alone. A `dedup_id` seen within `DEDUP_WINDOW` stores
  nothing and answers the first item's id.
- **Order.** Ready items are delivered by `priority` (0-9, the highest first; not on an
  ordered queue), and within one priority in position order (a keyed take: the same
  among the items with that key, compared case-insensitively); `take_order` is the sort
  key. Items given back take positions at the *front* (falling, negative), new ones at
  the back (growing).
- **Take.** Without a lease the item is gone. With one it is *in flight* until
  `now + lease`, its `attempts` grows by one, and the delivery gets a fresh *receipt*.
- **Lease end.** `ack` with a live receipt removes the item. `release`, or the lease
  running out, gives it back (`after_lease`): to the front, after `delay` if one was
  given; or, after the queue's `max_attempts`-th delivery, on to the back of the
  dead-letter queue (attempts kept, ttl and delay cleared), or dropped if that queue
  does not exist; or, if its ttl ended meanwhile, it is dropped as expired. A receipt
  of any delivery but the live one names nothing.
- **Delay end.** A delayed item becomes ready with a fresh position: at the back if it
  was put with a delay, at the front if it was released with one (`delay_end_front`).
- **Deadlines found due together** are handled in `due_order`.
- **Restart.** Queues, items, positions, attempts, leases with their receipts and
  deadlines, delays, ttls and the dedup window survive (on a durable backend); a
  deadline that passed while the server was down is handled at start, as if late.
- **Purge** drops ready and delayed items (not those in flight); with `in_flight`,
  those in flight too, whose receipts then name nothing (`purged`).
- **Retry delays.** A lease that runs out, or a release without a `delay` of its own,
  waits the queue's `retry_delays` for its delivery number before the item is visible
  again, at the front (`retry_delay`).
- **Redrive.** A dead letter carries the queue it came from. A redrive sends ready
  dead letters, in take order, to the back of `to` or of where each came from
  (`redrive_target`), attempts reset; one with neither stays.
- **Pause.** A paused queue takes puts and delivers nothing (`takeable`); leases in
  flight run on, and deadlines are handled as ever.
- **Ordered keys.** On a queue created `ordered`, each key (compared case-insensitively)
  is a *group*. An item *holds* its group while it is in flight, and also while it waits
  out a delay after its lease ended (released with a delay, or a retry delay): it went
  back to the front of its group, and a later item of the key must not overtake it
  (`holds_group`). A take walks the ready items in take order and skips those whose
  group is held (`group_free`). A *leased* take gets at most one item per group: the item
  it chose holds its group at once, for the rest of the same take too (API.md lets a take
  return several of a group; one keeps a single item of each group in flight, so items
  coming back to the front one by one, or after leases that end apart, can never pass
  each other). A take without a lease holds nothing (the items are gone at once): it
  may return several items of one free group, in order; given back undelivered, they go
  back together, keeping that order. A group is free again once nothing of it is in
  flight or delayed at the front: acked, released without a delay (it is ready at the
  front: its head), run out, dead-lettered or dropped, expired, purged. Items without a
  key form no group. An ordered queue delivers by position only (`take_order`): a put's
  `priority` is refused there (`priority_allowed`), and an item that arrives with one
  (a dead letter, a redrive) keeps it but is not moved ahead by it. A put is never
  handed straight to a waiting consumer there (`hands_off`): the group check is
  storage's. `ordered` is fixed when the queue is created.
- **Headers.** An item may carry headers (`headers_fault` says which are refused). They
  are fixed at the put and go wherever the item goes (back after a lease, to the
  dead-letter queue, back by a redrive, across restarts), on every take and peek.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Literal, NamedTuple

from disqueue.models import NewItem, QueueSettings

#: How long a `dedup_id` is remembered (seconds).
DEDUP_WINDOW = 300.0

#: What separates the item id from the delivery's token in a receipt. Item ids never
#: contain it (they are hexadecimal), and receipts are split at the last one anyway.
_RECEIPT_SEP = "."


class LeaseRef(NamedTuple):
    """What names a lease: the item's id, and the delivery's token when the client sent
    a receipt (None: whatever lease the item has now, the Part 2 way)."""

    item_id: str
    token: str | None = None


def receipt(item_id: str, token: str) -> str:
    """The receipt of one delivery: opaque to clients, different for every delivery."""
    return f"{item_id}{_RECEIPT_SEP}{token}"


def parse_receipt(text: str) -> LeaseRef | None:
    """The lease a receipt names, or None if it cannot be a receipt at all."""
    item_id, sep, token = text.rpartition(_RECEIPT_SEP)
    # No receipt holds a NUL (and PostgreSQL cannot even compare text that does).
    if not sep or not item_id or not token or "\x00" in text:
        return None
    return _lease_ref(LeaseRef, (item_id, token))


def parse_receipts(texts: list[str]) -> list[LeaseRef | None]:
    """`parse_receipt` of each of `texts` (a batch ack's: in one loop, without a call
    each)."""
    refs: list[LeaseRef | None] = []
    for text in texts:
        item_id, sep, token = text.rpartition(_RECEIPT_SEP)
        if not sep or not item_id or not token or "\x00" in text:
            refs.append(None)
        else:
            refs.append(_lease_ref(LeaseRef, (item_id, token)))
    return refs


def receipt_item(text: str) -> str:
    """The item id in a receipt (as `parse_receipt` reads it; "" if it names none)."""
    return text.rpartition(_RECEIPT_SEP)[0]


# A named tuple's own constructor is a Python function (a frame per call): a receipt of
# every ack is parsed, so this makes one from C.
_lease_ref = tuple.__new__


def names_lease(ref: LeaseRef, live_token: str | None) -> bool:
    """Whether `ref` names the live delivery whose token is `live_token`."""
    return ref.token is None or ref.token == live_token


# -- put ---------------------------------------------------------------------------------


class Placement(NamedTuple):
    """When a new item becomes visible and when it is dropped (None: never)."""

    visible_at: float | None
    ttl_at: float | None


def placement(item: NewItem, settings: QueueSettings, now: float) -> Placement:
    """Where a put's options (or, without them, the queue's defaults) put an item in time."""
    delay = item.delay if item.delay is not None else settings.delay
    ttl = item.ttl if item.ttl is not None else settings.ttl
    return Placement(
        now + delay if delay else None,
        now + ttl if ttl is not None else None,
    )


#: Headers on an item: at most this many entries, names of 1 to `HEADER_NAME_MAX`
#: characters, and names and values together at most `HEADERS_MAX_BYTES` in UTF-8.
HEADERS_MAX = 16
HEADER_NAME_MAX = 128
HEADERS_MAX_BYTES = 8192


def headers_fault(headers: object) -> str | None:
    """Why a put's `headers` are refused (None: they are fine): an object of string →
    string entries within the limits above."""
    if not isinstance(headers, dict):
        return "must be an object of strings"
    if len(headers) > HEADERS_MAX:
        return f"at most {HEADERS_MAX} entries"
    size = 0
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            return "must be an object of strings"
        if not 0 < len(name) <= HEADER_NAME_MAX:
            return f"names must have 1 to {HEADER_NAME_MAX} characters"
        if "\x00" in name or "\x00" in value:
            return "must not contain NUL characters"
        size += len(name.encode()) + len(value.encode())
    if size > HEADERS_MAX_BYTES:
        return f"at most {HEADERS_MAX_BYTES} bytes in all"
    return None


def defaults(settings: QueueSettings) -> bool:
    """Whether a queue gives items put without options a delay or a ttl (a put on it is
    never the plain one, and a delay keeps it from being handed to a waiting consumer)."""
    return bool(settings.delay) or settings.ttl is not None


def dedup_open(until: float, now: float) -> bool:
    """Whether a dedup claim that lasts until `until` still stands at `now`."""
    return until > now


def dedup_until(now: float) -> float:
    """How long a dedup claim made now lasts."""
    return now + DEDUP_WINDOW


def full(held: int, adding: int, settings: QueueSettings) -> bool:
    """Whether adding `adding` items to a queue holding `held` (ready, delayed and in
    flight) passes its `max_items`. Adding nothing never does (a put answered by its
    dedup_id), even once `max_items` was lowered below what the queue holds."""
    return settings.max_items is not None and adding > 0 and held + adding > settings.max_items


# -- take --------------------------------------------------------------------------------

#: Priorities an item may have (`put` `priority=`; 0 unless given).
PRIORITIES = range(10)


def priority_allowed(priority: int, settings: QueueSettings) -> bool:
    """Whether a put may give an item `priority`: one of `PRIORITIES`, and on an ordered
    queue none but 0 (order within a group wins)."""
    return priority in PRIORITIES and not (priority and settings.ordered)


def hands_off(settings: QueueSettings) -> bool:
    """Whether a plain put may go straight to a consumer waiting without a lease: not
    when the queue delays its items, nor on an ordered queue (the group check is the
    take's, in storage)."""
    return not settings.delay and not settings.ordered


def holds_group(leased: bool, visible_at: float | None, pos: int) -> bool:
    """Whether an item of an ordered queue holds its group (no later item of its key is
    delivered): in flight, or back at the front after a lease and delayed there."""
    return leased or (visible_at is not None and delay_end_front(pos))


def group_free(match: str | None, held: Container[str]) -> bool:
    """Whether a ready item with lower-cased key `match` may be delivered from an ordered
    queue whose held groups are `held`: as found when the take started, and, for a
    leased take, with the groups of the items it already chose (one item per group)."""
    return match is None or match not in held


def take_order(priority: int, pos: int, ordered: bool = False) -> tuple[int, int]:
    """The order ready items are delivered in: the highest priority first, then by
    position; on an ordered queue by position only. An item keeps its priority wherever
    it goes (back after a lease, to the dead-letter queue, back by a redrive)."""
    return 0 if ordered else -priority, pos


def takeable(
    leased: bool, visible_at: float | None, ttl_at: float | None, now: float, paused: bool = False
) -> bool:
    """Whether an item may be delivered now: its queue not paused, the item not in
    flight, not delayed, not past its ttl (even if nobody has dropped it yet)."""
    return not paused and not leased and visible_at is None and not expired(ttl_at, now)


def lease_until(lease: float, now: float) -> float:
    """When a lease of `lease` seconds taken now ends."""
    return now + lease


def lease_live(expires: float, now: float) -> bool:
    """Whether a lease ending at `expires` still holds at `now` (at its end exactly it
    has ended: the item is the deadline's to give back)."""
    return expires > now


# -- the end of a lease --------------------------------------------------------------------


class Requeue(NamedTuple):
    """Back to the front of its queue, visible at `visible_at` (None: at once)."""

    visible_at: float | None


class DeadLetter(NamedTuple):
    """On to the back of the dead-letter queue `target` (attempts kept; ttl and delay
    cleared: a dead letter waits for a person, not for a clock)."""

    target: str


class Drop(NamedTuple):
    """Out of the service: its last delivery failed and there is no dead-letter queue.
    (Outcomes are named tuples: one is made per lease end.)"""

    counted: str = "dead_lettered"  # the total that counts it


class Expire(NamedTuple):
    """Out of the service: its ttl ended while it was in flight."""

    counted: str = "expired"  # the total that counts it


Outcome = Requeue | DeadLetter | Drop | Expire


def retry_delay(attempts: int, settings: QueueSettings) -> float:
    """How long an item waits after its `attempts`-th delivery ended without an ack and
    without a delay of its own: the queue's `retry_delays[min(n, len) - 1]`, or 0."""
    delays = settings.retry_delays
    if not delays or attempts < 1:
        return 0.0
    return delays[min(attempts, len(delays)) - 1]


def after_lease(
    attempts: int,
    settings: QueueSettings,
    delay: float | None,
    now: float,
    letters_exist: bool,
    ttl_at: float | None = None,
) -> Outcome:
    """What happens to an item whose lease ended without an ack (released with `delay`,
    or run out or released without one: None, the queue's `retry_delay`), after its
    `attempts`-th delivery. An item whose ttl ended while it was in flight is dropped as
    expired: it would come back only to be dropped."""
    if expired(ttl_at, now):
        return Expire()
    if settings.max_attempts is None or attempts < settings.max_attempts:
        wait = retry_delay(attempts, settings) if delay is None else delay
        return Requeue(now + wait if wait > 0 else None)
    if settings.dead_letter is not None and letters_exist:
        return DeadLetter(settings.dead_letter)
    return Drop()


# -- deadlines -------------------------------------------------------------------------------


def expired(ttl_at: float | None, now: float) -> bool:
    """Whether an item's ttl has ended (it is dropped if it is queued, ready or delayed;
    an item in flight keeps its ttl for when it comes back)."""
    return ttl_at is not None and ttl_at <= now


def delay_end_front(pos: int) -> bool:
    """Whether an item whose delay ended goes to the front (it was released with a
    delay: its position is a front one) rather than the back (it was put with one)."""
    return pos < 0


def purged(leased: bool, in_flight: bool) -> bool:
    """Whether a purge drops an item: a ready or delayed one always, one in flight only
    with `in_flight` (its receipt then names nothing)."""
    return in_flight or not leased


def redrive_target(dead_letter_from: str | None, to: str | None) -> str | None:
    """Where a redrive sends a dead letter: `to` if given, else back where it came from
    (None: it stays)."""
    return to if to is not None else dead_letter_from


Deadline = Literal["lease", "delay", "ttl"]
_KIND_ORDER = {"lease": 0, "delay": 1, "ttl": 2}


def due_order(kind: Deadline, when: float, pos: int) -> tuple[int, float, int]:
    """The order in which deadlines found due together are handled (after a restart,
    say, or a busy moment): every lease end first, then delay ends, then ttl ends, each
    kind by time; among lease ends and front delay ends of the same moment, the later
    position first, so that items going to the front together keep their order;
    otherwise by position."""
    front = kind == "lease" or (kind == "delay" and delay_end_front(pos))
    return _KIND_ORDER[kind], when, -pos if front else pos
