"""Batch puts on every backend: what a batch stores is what is read back, after a restart
too, whichever way the backend writes each kind of item (SQLite binds a plain item's
columns only)."""

from __future__ import annotations

from disqueue.models import NewItem

from .conftest import Backend


async def test_a_mixed_batch_reads_back_whole_after_a_restart(backend: Backend) -> None:
    """Plain, keyed and optioned items in one batch, interleaved: after a restart each is
    taken back with its own value, key, headers and priority, in put order within its
    priority; the delayed one still waits."""
    service = backend.service
    queue = await service.create_queue()
    batch = [
        NewItem("plain-1"),
        NewItem("keyed-1", "K"),
        NewItem("headers", headers={"h": "1"}),
        NewItem("plain-2"),
        NewItem("urgent", "U", priority=5),
        NewItem("delayed", delay=60),
        NewItem("keyed-2", "k2"),
        NewItem("ttl", ttl=600),
    ]
    ids = await service.put_many(queue, batch)
    if backend.kind != "memory":  # memory keeps nothing over a restart
        await backend.restart()
    service = backend.service
    taken = [await service.take(queue) for _ in range(7)]
    assert [(i.value, i.key, i.headers, i.priority) for i in taken] == [
        ("urgent", "U", None, 5),
        ("plain-1", None, None, 0),
        ("keyed-1", "K", None, 0),
        ("headers", None, {"h": "1"}, 0),
        ("plain-2", None, None, 0),
        ("keyed-2", "k2", None, 0),
        ("ttl", None, None, 0),
    ]
    assert [i.id for i in taken] == [ids[4], ids[0], ids[1], ids[2], ids[3], ids[6], ids[7]]
    info = await service.info(queue)
    assert (info["size"], info["delayed"]) == (0, 1)
