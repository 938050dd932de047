"""The queue service: names, limits, and the hand-off between puts and wants."""

from __future__ import annotations

import asyncio

import pytest

from disqueue.config import Limits
from disqueue.core import QueueNames, QueueService, Want
from disqueue.errors import InvalidQueueId, NoItem, QueueNotFound, TooLarge, TooMany
from disqueue.models import Item, NewItem
from disqueue.storage.embedded.memory import MemoryStorage

Q = "6F1C0B2E-0000-4000-8000-000000000001"


class Inbox:
    """A consumer that records deliveries, or refuses them once closed."""

    def __init__(self, open_: bool = True) -> None:
        self.open = open_
        self.got: list[tuple[object, str]] = []

    def takes_handoff(self) -> bool:
        return True

    def deliver(self, want: Want, item: Item, receipt: asyncio.Future[None] | None) -> bool:
        if self.open:
            self.got.append((want.identifier, item.value))
            if receipt is not None:
                receipt.set_result(None)
        return self.open


@pytest.fixture
def service() -> QueueService:
    return QueueService(MemoryStorage(), QueueNames(), Limits(max_queues=3, max_value_bytes=8))


async def test_names_are_canonical_lower_case(service: QueueService) -> None:
    """A queue created with an upper-case UUID is stored and found under its lower-case form."""
    assert await service.create_queue(Q) == Q.lower()
    assert await service.create_queue(Q.lower()) == Q.lower()
    assert await service.queues() == [Q.lower()]
    await service.put(Q.lower(), NewItem("v"))
    assert (await service.take(Q)).value == "v"


async def test_generated_names_are_uuid4(service: QueueService) -> None:
    """A queue created without a name gets a fresh lower-case version-4 UUID."""
    name = await service.create_queue()
    assert name == name.lower() and name[14] == "4" and len(name) == 36


@pytest.mark.parametrize("bad", ["", "nope", Q + "0", Q.replace("-", ""), "{" + Q + "}"])
async def test_invalid_names(service: QueueService, bad: str) -> None:
    """Anything but a canonical 36-character UUID is an invalid queue id."""
    with pytest.raises(InvalidQueueId):
        await service.create_queue(bad)


async def test_free_form_names_when_allowed() -> None:
    """With the "any" policy short names work and compare case-sensitively."""
    service = QueueService(MemoryStorage(), QueueNames("any"), Limits())
    assert await service.create_queue("jobs.email") == "jobs.email"
    assert await service.create_queue("Jobs.Email") == "Jobs.Email"
    assert len(await service.queues()) == 2
    with pytest.raises(InvalidQueueId):
        await service.create_queue("has space")


async def test_max_queues(service: QueueService) -> None:
    """Past max_queues a new queue is refused, but re-creating an existing one is fine."""
    names = [await service.create_queue() for _ in range(3)]
    with pytest.raises(TooMany, match="too many queues"):
        await service.create_queue()
    assert await service.create_queue(names[0]) == names[0]


async def test_value_limit_counts_utf8_bytes(service: QueueService) -> None:
    """The value limit is in UTF-8 bytes, not characters, and a refused put stores nothing."""
    name = await service.create_queue()
    await service.put(name, NewItem("12345678"))
    with pytest.raises(TooLarge, match="value too large"):
        await service.put(name, NewItem("ééééé"))  # 5 characters, 10 bytes
    assert (await service.info(name))["size"] == 1


async def test_take_and_peek_empty(service: QueueService) -> None:
    """An empty queue answers NoItem naming the action; a missing one QueueNotFound."""
    name = await service.create_queue()
    with pytest.raises(NoItem, match="no item to take"):
        await service.take(name)
    with pytest.raises(NoItem, match="no item to peek"):
        await service.peek(name)
    with pytest.raises(QueueNotFound):
        await service.take(Q)


async def test_put_hands_off_to_longest_waiting_matching_want(service: QueueService) -> None:
    """A put goes to the oldest want that accepts it and is not stored."""
    name = await service.create_queue()
    inbox = Inbox()
    await service.want(inbox, "keyed", name, "K")
    await service.want(inbox, "any", name, None)
    await service.want(inbox, "keyed-2", name, "k")
    await service.put(name, NewItem("1", "other"))  # only the unkeyed want accepts it
    await service.put(name, NewItem("2", "k"))  # the oldest keyed want
    await service.put(name, NewItem("3", "K"))
    assert inbox.got == [("any", "1"), ("keyed", "2"), ("keyed-2", "3")]
    info = await service.info(name)
    assert (info["size"], info["consumers"], info["put"], info["taken"]) == (0, 0, 3, 3)


async def test_want_is_answered_from_storage_first(service: QueueService) -> None:
    """A want on a queue with a matching item gets it at once and does not wait."""
    name = await service.create_queue()
    await service.put(name, NewItem("stored", "a"))
    inbox = Inbox()
    want = await service.want(inbox, 1, name, "A")
    assert inbox.got == [(1, "stored")]
    assert want is None  # fully served: not waiting


async def test_closed_consumer_is_skipped(service: QueueService) -> None:
    """A put passes over wants whose consumer refuses delivery, and then stores the item."""
    name = await service.create_queue()
    closed = Inbox()
    await service.want(closed, "x", name, None)
    closed.open = False
    await service.put(name, NewItem("v"))
    assert closed.got == []
    assert (await service.take(name)).value == "v"


async def test_give_back_goes_to_front(service: QueueService) -> None:
    """An item that could not be delivered is the next one taken."""
    name = await service.create_queue()
    await service.put(name, NewItem("later"))
    await service.give_back(name, Item("first"))
    assert (await service.take(name)).value == "first"


async def test_give_back_to_deleted_queue_is_dropped(service: QueueService) -> None:
    """Giving back to a queue deleted meanwhile neither fails nor resurrects the queue."""
    name = await service.create_queue()
    await service.delete_queue(name)
    await service.give_back(name, Item("v"))
    assert await service.queues() == []


async def test_delete_cancels_wants(service: QueueService) -> None:
    """Deleting a queue drops its wants: a put on a re-created queue is stored."""
    name = await service.create_queue()
    inbox = Inbox()
    await service.want(inbox, "w", name, None)
    await service.delete_queue(name)
    await service.create_queue(name)
    await service.put(name, NewItem("v"))
    assert inbox.got == []
    assert (await service.info(name))["size"] == 1


async def test_cancelled_want_gets_nothing(service: QueueService) -> None:
    """A cancelled want is not handed later puts."""
    name = await service.create_queue()
    inbox = Inbox()
    want = await service.want(inbox, "w", name, None)
    assert want is not None
    service.cancel(want)
    await service.put(name, NewItem("v"))
    assert inbox.got == []


async def test_want_on_missing_queue(service: QueueService) -> None:
    """A want on a queue that does not exist raises and leaves nothing registered."""
    with pytest.raises(QueueNotFound):
        await service.want(Inbox(), "w", Q, None)
    assert service.wants.count(Q.lower()) == 0
