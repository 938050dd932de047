"""Property-based tests of the queue rules: random sequences of put, take, peek, leased
take, ack, release, purge and delete, run through `QueueService` on every storage
backend and against a small reference model written here; every answer must agree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disqueue.config import Limits
from disqueue.core import QueueNames, QueueService
from disqueue.errors import DisqueueError, NoItem, NoSuchLease, QueueNotFound
from disqueue.models import Item, NewItem
from disqueue.storage import Storage

#: Long enough that no lease runs out during an example.
LEASE = 600.0

KEYS = st.sampled_from([None, "a", "A", "b", "é"])
VALUES = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=6)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), VALUES, KEYS),
        st.tuples(st.just("take"), KEYS),
        st.tuples(st.just("peek"), KEYS),
        st.tuples(st.just("lease"), KEYS),
        st.tuples(st.just("ack"), st.integers(0, 7)),
        st.tuples(st.just("release"), st.integers(0, 7)),
        st.tuples(st.just("purge")),
        st.tuples(st.just("delete")),
    ),
    max_size=40,
)


@dataclass
class Model:
    """What a queue holds, by the rules of API.md: ready items in order, leased ones
    aside; a released item goes back to the front; keys match case-insensitively and
    never match an item without a key."""

    ready: list[tuple[str, str, str | None]] = field(default_factory=list)  # id, value, key
    leased: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    ever_leased: list[str] = field(default_factory=list)
    exists: bool = True

    def first(self, key: str | None) -> int | None:
        for index, (_, _, item_key) in enumerate(self.ready):
            if key is None or (item_key is not None and item_key.lower() == key.lower()):
                return index
        return None

    def take(self, key: str | None, *, lease: bool) -> tuple[str, str, str | None] | None:
        index = self.first(key)
        if index is None:
            return None
        item_id, value, item_key = self.ready.pop(index)
        if lease:
            self.leased[item_id] = (value, item_key)
            self.attempts[item_id] = self.attempts.get(item_id, 0) + 1
            self.ever_leased.append(item_id)
        return item_id, value, item_key

    def release(self, item_id: str) -> bool:
        if item_id not in self.leased:
            return False
        value, key = self.leased.pop(item_id)
        self.ready.insert(0, (item_id, value, key))
        return True


def answer_of(item: Item) -> tuple[str, str, str | None]:
    return item.id, item.value, item.key


async def run(service: QueueService, name: str, op: tuple[Any, ...], model: Model) -> Any:
    """Apply one operation to the service; return what it answered (an error's type
    and message stand for the error)."""
    kind = op[0]
    try:
        if kind == "put":
            return await service.put(name, NewItem(op[1], op[2]))
        if kind in ("take", "lease"):
            item = await service.take(name, op[1], lease=LEASE if kind == "lease" else None)
            return (*answer_of(item), item.attempts if kind == "lease" else None)
        if kind == "peek":
            return answer_of(await service.peek(name, op[1]))
        if kind in ("ack", "release"):
            if not model.ever_leased:
                return "skipped"
            item_id = model.ever_leased[op[1] % len(model.ever_leased)]
            await (service.ack if kind == "ack" else service.release)(name, item_id)
            return None
        if kind == "purge":
            return await service.purge(name)
        await service.delete_queue(name)
        return None
    except DisqueueError as exc:
        return type(exc), exc.message


def expect(op: tuple[Any, ...], model: Model, put_id: Any) -> Any:
    """What the model says the service must answer, and the model's next state."""
    kind = op[0]
    if kind in ("ack", "release") and not model.ever_leased:
        return "skipped"
    if not model.exists:
        return QueueNotFound, "queue does not exist"
    if kind == "put":
        model.ready.append((put_id, op[1], op[2]))
        return put_id
    if kind in ("take", "lease"):
        taken = model.take(op[1], lease=kind == "lease")
        if taken is None:
            return NoItem, "no item to take"
        return (*taken, model.attempts[taken[0]] if kind == "lease" else None)
    if kind == "peek":
        index = model.first(op[1])
        return (NoItem, "no item to peek") if index is None else model.ready[index]
    if kind in ("ack", "release"):
        item_id = model.ever_leased[op[1] % len(model.ever_leased)]
        done = model.release(item_id) if kind == "release" else bool(model.leased.pop(item_id, 0))
        return None if done else (NoSuchLease, "no such lease")
    if kind == "purge":
        purged, model.ready = len(model.ready), []
        return purged
    model.exists = False
    return None


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
async def test_service_agrees_with_the_model(storage: Storage, ops: list[tuple[Any, ...]]) -> None:
    """Every answer of the service equals the model's, on each backend; at the end the
    queue's counts equal the model's too."""
    service = QueueService(storage, QueueNames(), Limits())
    name = await service.create_queue()
    model = Model()
    for step, op in enumerate(ops):
        got = await run(service, name, op, model)
        wanted = expect(op, model, got if op[0] == "put" and model.exists else None)
        assert got == wanted, f"step {step}: {op} → {got!r}, model says {wanted!r}\n{ops}"
    if model.exists:
        info = await service.info(name)
        assert (info["size"], info["in_flight"]) == (len(model.ready), len(model.leased))
        await service.delete_queue(name)
