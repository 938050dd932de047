"""The model test: random sequences of every delivery operation, with a fake clock and
restarts, run through `QueueService` on memory, SQLite and PostgreSQL and held to the
reference model in `model.py`. Every answer, every receipt's fate and every count must
agree; a backend that drifts from the contract fails here.

Operations: put (delay, ttl, dedup_id, max_items, priority 0-9 (10 refused), headers:
kept through every take, peek, lease end, dead letter, redrive and restart; refused ones
change nothing), batch put, a put stored straight in flight (`put_leased`: what a put does for a
consumer waiting with a lease), take (key, lease, count), peek, ack / release (with or
without delay) / touch by receipt, by item id and by a receipt never issued, purge (with
or without the items in flight), pause and resume, a change of the queue's settings
(retry delays, max_attempts, max_items, default delay and ttl: they hold at once, for
items already queued too), a take from the dead-letter queue (its items say where they
came from), a redrive of it back (by `dead_letter_from` or `to`), moving the clock (the
backend then handles what is due), and a restart (close and reopen on the same data; the
memory backend keeps nothing, so there it is skipped).
Queues are drawn with and without retry delays, and ordered or not (ordered keys: a
group held while an item of its key is in flight or given back with a delay; a leased
take gets one item per group; a priority refused there; `ordered` refused by a change of
settings); the dead-letter queue too may be ordered (by position only: dead letters keep
their priority, which does not reorder it).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disqueue.core import QueueService
from disqueue.core.contract import LeaseRef, parse_receipt
from disqueue.errors import DisqueueError
from disqueue.models import Item, NewItem, QueueSettings

from .conftest import Backend
from .model import Model, ModelItem, ModelQueue

KEYS = st.sampled_from([None, "a", "A", "b"])
VALUES = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=4)
PICK = st.integers(0, 3)  # how far back among the receipts handed out (0: the last)
PUT = st.tuples(
    st.just("put"), VALUES, KEYS, st.sampled_from([None, None, 0.0, 5.0, 20.0]),
    st.sampled_from([None, None, 8.0, 30.0]), st.sampled_from([None, "d1", "d2"]),
    st.sampled_from([None, None, None, {"h": "1"}, {"trace": "é", "x": ""}, {"": "bad"}]),
    st.sampled_from([0, 0, 0, 1, 5, 9, 10]),
)  # fmt: skip
#: Headers the contract refuses (the model's own list): an empty name.
BAD_HEADERS = "invalid parameter 'headers': names must have 1 to 128 characters"
TAKE = st.tuples(
    st.just("take"), KEYS, st.sampled_from([None, 10.0, 30.0, 60.0]),
    st.sampled_from([None, None, 3]),
)  # fmt: skip
DELAYS = st.sampled_from([None, None, (5.0,), (2.0, 9.0)])
RELEASE = st.tuples(
    st.just("release"), PICK, st.sampled_from(["receipt", "receipt", "id", "never"]),
    st.sampled_from([None, 0.0, 3.0, 6.0]),
)  # fmt: skip
ADVANCE = st.tuples(
    st.just("advance"), st.sampled_from([1.0, 2.0, 4.0, 7.0, 7.0, 15.0, 31.0, 301.0])
)
OP = {
    "put": PUT,
    "put_many": st.tuples(
        st.just("put_many"), st.lists(st.tuples(VALUES, KEYS), min_size=1, max_size=3)
    ),
    "take": TAKE,
    "put_leased": st.tuples(st.just("put_leased"), VALUES, KEYS, st.sampled_from([10.0, 30.0])),
    "peek": st.tuples(st.just("peek"), KEYS),
    "ack": st.tuples(st.just("ack"), PICK, st.sampled_from(["receipt", "receipt", "id", "never"])),
    "release": RELEASE,
    "touch": st.tuples(st.just("touch"), PICK, st.sampled_from(["receipt", "id"]), st.just(25.0)),
    "purge": st.tuples(st.just("purge"), st.booleans()),
    "pause": st.tuples(st.just("pause"), st.booleans()),
    "settings": st.one_of(
        st.tuples(st.just("settings"), st.just("retry_delays"), DELAYS),
        st.tuples(st.just("settings"), st.just("max_attempts"), st.sampled_from([None, 1, 3])),
        st.tuples(st.just("settings"), st.just("max_items"), st.sampled_from([None, 4, 9])),
        st.tuples(st.just("settings"), st.just("delay"), st.sampled_from([None, 4.0])),
        st.tuples(st.just("settings"), st.just("ttl"), st.sampled_from([None, 10.0])),
        st.tuples(st.just("settings"), st.just("ordered"), st.booleans()),
    ),
    "take_dlq": st.tuples(st.just("take_dlq")),
    "redrive": st.tuples(
        st.just("redrive"), st.sampled_from([None, 1, 2]), st.sampled_from([False, True])
    ),
    "advance": ADVANCE,
    "restart": st.tuples(st.just("restart")),
}
# How often each comes up, in twentieths: the rules are in how puts, takes, the ends of
# leases and time meet.
WEIGHTS = {
    "put": 4, "put_many": 1, "put_leased": 1, "take": 4, "peek": 1, "ack": 2, "release": 2,
    "touch": 1, "purge": 0.5, "pause": 1, "settings": 1, "take_dlq": 1, "redrive": 1, "advance": 3,
    "restart": 1.5,
}  # fmt: skip
OPS = st.lists(
    st.sampled_from([k for k, w in WEIGHTS.items() for _ in range(int(w * 2))]).flatmap(
        OP.__getitem__
    ),
    min_size=10,
    max_size=60,
)
SETTINGS = st.tuples(
    st.sampled_from([None, 1, 2]), st.booleans(), st.sampled_from([None, None, 6]),
    DELAYS, st.booleans(), st.booleans(),
)  # fmt: skip
#: What a change of `ordered` answers (a queue is ordered or not from its creation).
FIXED_ORDER = "invalid parameter 'ordered': it cannot change"


@dataclass
class Delivery:
    """A receipt the backend handed out, and which delivery of which item it was."""

    receipt: str
    item_id: str
    delivery: int


@dataclass
class Run:
    """One example: the backend, the model, and every receipt handed out so far."""

    backend: Backend
    model: Model
    main: str
    dlq: str
    deliveries: list[Delivery] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def service(self) -> QueueService:
        return self.backend.service

    def pick(self, index: int, mode: str) -> tuple[LeaseRef | str, ModelItem | None] | None:
        """The lease an op names, and the model's item it names live (None: none)."""
        if not self.deliveries:
            return None
        chosen = self.deliveries[-1 - index % len(self.deliveries)]
        if mode == "id":
            return chosen.item_id, self.model.live(chosen.item_id, None)
        if mode == "never":  # the item's id with a token nobody was given
            return LeaseRef(chosen.item_id, "never-issued"), None
        ref = parse_receipt(chosen.receipt)
        assert ref is not None, chosen.receipt
        return ref, self.model.live(chosen.item_id, chosen.delivery)

    def delivered(self, items: list[Any], model_items: list[ModelItem], leased: bool) -> None:
        if not leased:
            return
        for item, model_item in zip(items, model_items, strict=True):
            assert item.receipt is not None
            assert all(d.receipt != item.receipt for d in self.deliveries), "receipt reused"
            self.deliveries.append(Delivery(item.receipt, item.id, model_item.delivery))


def shape(item: Any, leased: bool) -> tuple[Any, ...]:
    return (
        item.id, item.value, item.key, item.attempts if leased else None, item.headers,
        item.priority,
    )  # fmt: skip


def model_shape(item: ModelItem, leased: bool) -> tuple[Any, ...]:
    return (
        item.id, item.value, item.key, item.attempts if leased else None, item.headers,
        item.priority,
    )  # fmt: skip


async def step(run: Run, op: tuple[Any, ...]) -> tuple[Any, Any]:
    """Apply one op to the service and to the model: (what the service answered, what
    the model says it must answer). An error stands as its message."""
    kind, service, model = op[0], run.service, run.model
    try:
        if kind == "put":
            _, value, key, delay, ttl, dedup_id, headers, priority = op
            item_id = f"m{next(run.ids)}"
            if priority > 9:  # checked before the headers
                wanted = "invalid parameter 'priority'"
            elif headers is not None and "" in headers:
                wanted = BAD_HEADERS
            elif priority and model.ordered:  # order within a group wins
                wanted = "invalid parameter 'priority'"
            else:
                wanted = model.put(item_id, value, key, delay, ttl, dedup_id, headers, priority)
                wanted = wanted or "queue is full"
            new = NewItem(
                value, key, delay=delay, ttl=ttl, dedup_id=dedup_id, id=item_id, headers=headers,
                priority=priority,
            )  # fmt: skip
            return await service.put(run.main, new), wanted
        if kind == "put_many":
            new = [NewItem(v, k, id=f"m{next(run.ids)}") for v, k in op[1]]
            if model.max_items is not None and len(model.main.items) + len(new) > model.max_items:
                wanted = "queue is full"
            else:
                wanted = [model.put(n.id, n.value, n.key, None, None, None) for n in new]
            return await service.put_many(run.main, new), wanted
        if kind == "take":
            _, key, lease, count = op
            leased = lease is not None
            taken = model.take(model.main, key, count or 1, lease)
            wanted: Any = [model_shape(i, leased) for i in taken]
            if count is None:
                wanted = wanted[0] if wanted else "no item to take"
            items = await service.take_many(run.main, key, count=count or 1, lease=lease)
            if count is None and not items:
                got: Any = "no item to take"
            else:
                got = [shape(i, leased) for i in items]
                got = got[0] if count is None else got
            if got == wanted:
                run.delivered(items, taken, leased)
            return got, wanted
        if kind == "put_leased":  # what a put does for a consumer waiting with a lease
            _, value, key, lease = op
            item_id = f"m{next(run.ids)}"
            storage = run.backend.storage
            assert storage is not None
            if run.backend.kind == "postgres" and model.max_items is not None:  # declined there
                return await storage.put_leased(run.main, Item(value, key, item_id), lease), None
            outcome = model.put_leased(item_id, value, key, lease)
            wanted = "queue is full" if outcome == "full" else None
            got_item = await storage.put_leased(run.main, Item(value, key, item_id), lease)
            if got_item is None:
                return None, None if outcome == "no" else outcome
            modeled = model.main.items[item_id]
            run.delivered([got_item], [modeled], True)
            return shape(got_item, True), model_shape(
                modeled, True
            ) if outcome == "leased" else outcome
        if kind == "peek":
            found = model.peek(op[1])
            wanted = model_shape(found, False) if found else "no item to peek"
            return shape(await service.peek(run.main, op[1]), False), wanted
        if kind in ("ack", "release", "touch"):
            picked = run.pick(op[1], op[2])
            if picked is None:
                return "skipped", "skipped"
            ref, live = picked
            wanted = None if live else "no such lease"
            if kind == "ack":
                if live is not None:
                    model.ack(live)
                return await service.ack(run.main, ref), wanted
            if kind == "release":
                if live is not None:
                    model.give_back(live, op[3])
                return await service.release(run.main, ref, op[3]), wanted
            wanted = model.touch(live, op[3]) if live else "no such lease"
            return await service.touch(run.main, ref, op[3]), wanted
        if kind == "purge":
            wanted = model.purge(op[1])
            return await service.purge(run.main, in_flight=op[1]), wanted
        if kind == "pause":
            model.paused = op[1]
            await (service.pause if op[1] else service.resume)(run.main)
            return (await service.info(run.main)).get("paused", False), op[1]
        if kind == "take_dlq":
            taken = model.take(model.dlq, None, 1, None)
            origin = run.main if taken and taken[0].origin else None  # the model says "main"
            wanted = (*model_shape(taken[0], False), origin) if taken else "no item to take"
            got_item = await service.take(run.dlq)
            return (*shape(got_item, False), got_item.dead_letter_from), wanted
        if kind == "redrive":
            _, count, named = op
            # Without `to` the dead-letter queue must be named by `main` (its settings).
            if named or model.dead_letter:
                wanted = model.redrive(count)
            else:
                wanted = "not a dead-letter queue"
            return await service.redrive(run.dlq, run.main if named else None, count), wanted
        if kind == "settings":
            _, field, value = op
            if field == "ordered":
                wanted = FIXED_ORDER
                return await service.change_settings(run.main, ordered=value), wanted
            setattr(model, field, value)
            info = await service.change_settings(run.main, **{field: value})
            value = list(value) if isinstance(value, tuple) else value
            return info[field], value
        if kind == "advance":
            run.backend.clock.now += op[1]
            model.advance(op[1])
            assert run.backend.storage is not None
            await run.backend.storage.run_deadlines()
            return None, None
        if run.backend.kind == "memory":  # restart: nothing to keep
            return "skipped", "skipped"
        await run.backend.restart()
        return None, None
    except DisqueueError as exc:  # the model's answer was set before the call
        return exc.message, locals().get("wanted", f"{kind}: no error expected")


def counts(info: dict[str, Any]) -> tuple[Any, ...]:
    return (
        info["size"], info["delayed"], info["in_flight"], info["put"], info["taken"],
        info["acked"], info["expired"], info["dead_lettered"],
    )  # fmt: skip


def model_counts(queue: ModelQueue) -> tuple[Any, ...]:
    t = queue.totals
    return (*queue.counts(), t.put, t.taken, t.acked, t.expired, t.dead_lettered)


#: Examples per backend: 400 in `make test`; `make model` runs many more.
EXAMPLES = int(os.environ.get("DISQUEUE_MODEL_EXAMPLES", "400"))


@pytest.mark.timeout(max(120, EXAMPLES))  # about 0.1 s an example on PostgreSQL under load
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS, queue_settings=SETTINGS)
async def test_backend_agrees_with_the_model(
    backend: Backend, ops: list[tuple[Any, ...]], queue_settings: tuple[Any, ...]
) -> None:
    """Every answer, receipt and count of the service equals the reference model's, after
    every operation, on each backend, with time moving and restarts in between."""
    max_attempts, dead_letter, max_items, retry_delays, ordered, letters_ordered = queue_settings
    dlq = await backend.service.create_queue(settings=QueueSettings(ordered=letters_ordered))
    main = await backend.service.create_queue(
        settings=QueueSettings(
            max_attempts=max_attempts,
            dead_letter=dlq if dead_letter else None,
            max_items=max_items,
            retry_delays=retry_delays,
            ordered=ordered,
        )
    )
    model = Model(max_attempts, dead_letter, max_items, backend.clock.now, retry_delays)
    model.ordered = model.main.ordered = ordered
    model.dlq.ordered = letters_ordered  # its take order: by position, priorities kept
    run = Run(backend, model, main, dlq)
    for number, op in enumerate(ops):
        got, wanted = await step(run, op)
        assert got == wanted, f"step {number}: {op} → {got!r}, model says {wanted!r}\n{ops}"
        for name, queue in ((main, model.main), (dlq, model.dlq)):
            info = await run.service.info(name)
            assert counts(info) == model_counts(queue), f"step {number}: {op}, {name}\n{ops}"
    await run.service.delete_queue(main)
    await run.service.delete_queue(dlq)
