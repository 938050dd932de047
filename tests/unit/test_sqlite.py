"""The SQLite backend across restarts, schema versions and damaged files."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from disqueue.core import contract
from disqueue.core.service import lease_of
from disqueue.errors import ConfigError
from disqueue.models import Item
from disqueue.storage.base import migrations
from disqueue.storage.embedded import sqlite_writer
from disqueue.storage.embedded.sqlite import SQLiteStorage

Q = "6f1c0b2e-0000-4000-8000-000000000001"
R = "6f1c0b2e-0000-4000-8000-000000000002"


async def opened(path: Path) -> SQLiteStorage:
    storage = SQLiteStorage(path)
    await storage.open()
    return storage


async def test_everything_survives_a_restart(tmp_path: Path) -> None:
    """Queues, order, keys, items given back to the front and totals come back on reopen."""
    path = tmp_path / "db" / "disqueue.db"
    storage = await opened(path)
    await storage.create_queue(R)
    await storage.create_queue(Q)
    for value, key in [("a", "K"), ("b", None), ("c", "k"), ("d", None)]:
        await storage.put(Q, Item(value=value, key=key))
    taken = await storage.take(Q, None)
    assert taken is not None
    await storage.put_front(Q, Item(value="front", key=None, id="given-back"))
    await storage.close()

    storage = await opened(path)
    assert await storage.queues() == [R, Q]
    peeked = await storage.peek(Q, "K")
    assert peeked is not None
    assert (peeked.value, peeked.key) == ("c", "k")
    values = []
    while (item := await storage.take(Q, None)) is not None:
        values.append(item.value)
    assert values == ["front", "b", "c", "d"]
    info = await storage.info(Q)
    assert (info.put, info.taken, info.size) == (4, 4, 0)
    await storage.close()


async def test_deleted_queue_stays_deleted(tmp_path: Path) -> None:
    """A deleted queue and its items are gone after a restart."""
    path = tmp_path / "disqueue.db"
    storage = await opened(path)
    await storage.create_queue(Q)
    await storage.put(Q, Item("v"))
    await storage.delete_queue(Q)
    await storage.close()
    storage = await opened(path)
    assert await storage.queues() == []
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM items").fetchone() == (0,)
    await storage.close()


async def test_concurrent_puts_share_commits(tmp_path: Path) -> None:
    """Many concurrent puts are committed in fewer transactions than puts, all in order."""
    storage = await opened(tmp_path / "disqueue.db")
    await storage.create_queue(Q)
    await asyncio.gather(*(storage.put(Q, Item(str(i))) for i in range(500)))
    assert storage.sqlite._writer.batches < 500
    values = []
    while (item := await storage.take(Q, None)) is not None:
        values.append(int(item.value))
    assert values == list(range(500))
    await storage.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by a newer server is refused with a clear error, untouched."""
    path, newer = tmp_path / "disqueue.db", len(migrations("sqlite")) + 1
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version={newer}")
    with pytest.raises(ConfigError, match="newer than this server"):
        await opened(path)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (newer,)


async def test_damaged_file_is_refused(tmp_path: Path) -> None:
    """A file that is not an SQLite database is an error at start, not an empty queue."""
    path = tmp_path / "disqueue.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match=r"disqueue\.db"):
        await opened(path)


async def test_unwritable_folder_is_refused(tmp_path: Path) -> None:
    """A data folder that cannot be created is an error at start."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot open"):
        await opened(blocker / "data" / "disqueue.db")


async def test_schema_is_migrated_to_the_latest_version(tmp_path: Path) -> None:
    """A new database carries the latest schema version."""
    path = tmp_path / "disqueue.db"
    storage = await opened(path)
    await storage.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (len(migrations("sqlite")),)


async def test_totals_alone_wait_for_the_next_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The totals a put leaves behind (statistics, never waited for) make no commit,
    and so no fsync, of their own: they go with the next batch that writes something,
    which would else queue behind their commit. Closing writes them; they come back."""
    monkeypatch.setattr(sqlite_writer, "TOTALS_DELAY", 600.0)  # none run out here
    path = tmp_path / "disqueue.db"
    storage = await opened(path)
    await storage.create_queue(Q)

    def put_total() -> int:
        with contextlib.closing(sqlite3.connect(path)) as reader:
            (total,) = reader.execute("SELECT put_total FROM queues").fetchone()
            return int(total)

    await storage.put(Q, Item(value="a"))
    writer, start = storage.sqlite._writer, storage.sqlite._writer.batches
    await asyncio.sleep(0.2)  # (the totals are handed to the writer on the next turn)
    assert (writer.batches, put_total()) == (start, 0)  # held back
    await storage.put(Q, Item(value="b"))
    await asyncio.sleep(0.2)
    assert (writer.batches, put_total()) == (start + 1, 1)  # with the second insert
    await storage.close()
    storage = await opened(path)
    assert (await storage.info(Q)).put == 2
    await storage.close()


async def _queue_of(path: Path, values: str) -> SQLiteStorage:
    """The storage at `path`, opened, with queue Q holding one item of each of `values`."""
    storage = await opened(path)
    await storage.create_queue(Q)
    for value in values:
        await storage.put(Q, Item(value))
    return storage


def _lease_records(path: Path) -> list[tuple[str, float, str]]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return connection.execute("SELECT token, until, positions FROM leases").fetchall()


async def test_a_leased_take_writes_one_record_and_survives_a_restart(tmp_path: Path) -> None:
    """A leased take of several items writes one lease record, not its items' rows; after
    a restart its items are in flight again, under the same receipts, with the attempt
    counted, and the record folded away. Items given back before the stop keep their
    count and are not in flight; a touch before the stop moves the deadline after it."""
    path = tmp_path / "disqueue.db"
    storage = await _queue_of(path, "abcd")
    taken = await storage.take_many(Q, None, 4, 60.0)
    assert [item.value for item in taken] == list("abcd")
    assert [item.attempts for item in taken] == [1, 1, 1, 1]
    records = _lease_records(path)
    assert len(records) == 1 and records[0][1] == taken[0].lease_expires
    with contextlib.closing(sqlite3.connect(path)) as connection:
        rows = connection.execute("SELECT attempts, lease_until FROM items").fetchall()
    assert rows == [(0, None)] * 4  # the rows are not rewritten by the lease
    a, b, c, d = taken
    assert await storage.release(Q, [lease_of(b)], 0.0) == [True]  # back, attempt kept
    assert await storage.ack(Q, [lease_of(c)]) == [True]
    (touched,) = await storage.touch(Q, [lease_of(d)], 600.0)
    assert touched is not None and d.lease_expires is not None and touched > d.lease_expires
    await storage.close()

    storage = await opened(path)
    assert _lease_records(path) == []  # folded into the items' rows at start
    with contextlib.closing(sqlite3.connect(path)) as connection:
        folded = dict(connection.execute("SELECT value, lease_until FROM items").fetchall())
    # a's deadline is its record's; d's the one its touch wrote, not the record's
    assert folded == {"a": a.lease_expires, "b": None, "d": touched}
    info = await storage.info(Q)
    assert (info.size, info.in_flight) == (1, 2)  # b queued; a and d in flight
    again = await storage.take_many(Q, None, 4, 60.0)
    assert [(item.value, item.attempts) for item in again] == [("b", 2)]  # not a, nor d
    # a's and d's leases are the ones handed out before the stop, receipts included.
    assert await storage.touch(Q, [lease_of(d)], 1.0) != [None]
    assert await storage.release(Q, [lease_of(a)], 0.0) == [True]  # its attempt counted
    (a_again,) = await storage.take_many(Q, None, 4, 60.0)
    assert (a_again.value, a_again.attempts) == ("a", 2)
    refs = [lease_of(a_again), lease_of(d), lease_of(again[0])]
    assert await storage.ack(Q, refs) == [True] * 3
    info = await storage.info(Q)
    assert (info.size, info.in_flight) == (0, 0)
    await storage.close()


async def test_lease_records_go_once_their_items_are_out_of_flight(tmp_path: Path) -> None:
    """A record stays while any of its items is in flight, and goes with the last."""
    path = tmp_path / "disqueue.db"
    storage = await _queue_of(path, "abc")
    first = await storage.take_many(Q, None, 2, 60.0)
    second = await storage.take_many(Q, None, 1, 60.0)
    assert len(_lease_records(path)) == 2
    assert await storage.ack(Q, [lease_of(first[0]), lease_of(second[0])]) == [True, True]
    await storage.put(Q, Item("next"))  # a commit after the records' deletion
    still = contract.parse_receipt(first[1].receipt or "")
    assert still is not None
    assert [token for token, _, _ in _lease_records(path)] == [still.token]
    assert await storage.release(Q, [lease_of(first[1])], 0.0) == [True]
    await storage.put(Q, Item("last"))
    assert _lease_records(path) == []
    await storage.close()


async def test_a_queue_deleted_while_its_take_is_committing_leaves_no_lease_record(
    tmp_path: Path,
) -> None:
    """A queue deleted while a leased take of it is on its way to the disk: the drop
    does not know the take's items (reserved, not yet in flight), and the take's record
    must still go once the items are gone with their queue, not stay for the run."""
    path = tmp_path / "disqueue.db"
    storage = await _queue_of(path, "ab")
    await storage.create_queue(R)
    take = asyncio.ensure_future(storage.take_many(Q, None, 2, 60.0))
    await asyncio.sleep(0)  # the take's lease is queued for the writer
    await storage.delete_queue(Q)
    await take
    await storage.put(R, Item("later"))  # commits after anything queued before it
    await storage.put(R, Item("last"))
    assert _lease_records(path) == []
    assert storage.sqlite._in_flight == {}
    await storage.close()


@pytest.mark.parametrize("positions", ["[1,", "null"])
async def test_a_damaged_lease_record_is_refused_at_start(tmp_path: Path, positions: str) -> None:
    """A lease record whose positions are not JSON, or JSON but not a list, is an error
    at start that names the file (a ConfigError, not "the writer process did not
    start"), and nothing is folded: the items keep their rows as they were."""
    path = tmp_path / "disqueue.db"
    storage = await _queue_of(path, "a")
    await storage.take_many(Q, None, 1, 60.0)
    await storage.close()
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("UPDATE leases SET positions = ?", (positions,))
    with pytest.raises(ConfigError, match=r"disqueue\.db.*lease record .* is damaged"):
        await opened(path)
    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert connection.execute("SELECT attempts, lease_until FROM items").fetchall() == [
            (0, None)
        ]
        assert len(connection.execute("SELECT * FROM leases").fetchall()) == 1


async def test_forgetting_a_lease_record_makes_no_commit_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ack of a take's last item commits once: the record's deletion waits for the
    next batch that writes something (as totals do), not an fsync of its own."""
    monkeypatch.setattr(sqlite_writer, "TOTALS_DELAY", 600.0)  # none run out here
    path = tmp_path / "disqueue.db"
    storage = await _queue_of(path, "a")
    (item,) = await storage.take_many(Q, None, 1, 60.0)
    writer = storage.sqlite._writer
    start = writer.batches
    assert await storage.ack(Q, [lease_of(item)]) == [True]
    await asyncio.sleep(0.2)
    assert writer.batches == start + 1 and len(_lease_records(path)) == 1  # held back
    await storage.put(Q, Item("b"))
    await asyncio.sleep(0.2)
    assert writer.batches == start + 2 and _lease_records(path) == []  # with the put
    await storage.close()


async def test_closing_while_an_ack_commits_commits_what_the_ack_leaves_behind(
    tmp_path: Path,
) -> None:
    """Closing while the ack of a take's last item is on its way to the disk: the ack's
    caller, answered, queues the record's deletion and the acked total. Closing waits
    for them (it used to drop the deletion's batch with an AssertionError in a loop
    callback, and then wait for its future for ever)."""
    path = tmp_path / "disqueue.db"
    storage = await _queue_of(path, "a")
    (item,) = await storage.take_many(Q, None, 1, 60.0)
    ack = asyncio.ensure_future(storage.ack(Q, [lease_of(item)]))
    await asyncio.sleep(0)  # the ack's delete is queued for the writer
    await asyncio.wait_for(storage.close(), 10)
    assert await ack == [True]
    assert _lease_records(path) == []
    storage = await opened(path)
    info = await storage.info(Q)
    assert (info.size, info.acked) == (0, 1)
    await storage.close()


async def test_a_put_answered_while_closing_keeps_its_total(tmp_path: Path) -> None:
    """A put committed while the storage closes: the total it counts once answered is
    written before the writer stops, not refused with the writer gone."""
    path = tmp_path / "disqueue.db"
    storage = await opened(path)
    await storage.create_queue(Q)
    put = asyncio.ensure_future(storage.put(Q, Item("a")))
    await asyncio.sleep(0)  # the put's insert is queued for the writer
    await asyncio.wait_for(storage.close(), 10)
    await put
    storage = await opened(path)
    assert (await storage.info(Q)).put == 1
    await storage.close()


async def test_a_damaged_row_is_refused_at_start_and_stops_the_writer(tmp_path: Path) -> None:
    """A row the server cannot read back (here a queue's creation time) is an error at
    start that names the file, as a damaged file is, and the writer process it started
    does not outlive the failed start."""
    path = tmp_path / "disqueue.db"
    storage = await _queue_of(path, "a")
    await storage.close()
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("UPDATE queues SET created = 'yesterday'")
    storage = SQLiteStorage(path)
    with pytest.raises(ConfigError, match=r"disqueue\.db.*cannot load"):
        await storage.open()
    process = storage.sqlite._writer._process
    assert process is not None
    await asyncio.to_thread(process.wait, 10)  # (TimeoutExpired: it is still there)


def test_the_writer_process_exits_quietly_when_the_server_goes_mid_commit(
    tmp_path: Path,
) -> None:
    """The server killed while a batch commits: the process finishes the commit, finds
    nobody to answer, and exits (status 0, no traceback on the server's stderr)."""
    import os
    import socket
    import subprocess
    import sys

    from disqueue.storage.embedded import sqlite_process

    ours, theirs = socket.socketpair()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    process = subprocess.Popen(
        [sys.executable, "-m", "disqueue.storage.embedded.sqlite_process", str(theirs.fileno())],
        pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    theirs.close()
    with ours:
        sqlite_process.send_message(ours, (str(tmp_path / "disqueue.db"), "full"))
        with ours.makefile("rb") as incoming:
            opened, _ = sqlite_process.receive_message(incoming)
        assert opened
        plain = (0, None, None, None, 0, None, None)
        rows = [(pos, f"id{pos}", None, "v" * 100, *plain) for pos in range(1, 20001)]
        # (the socket closes right after: the commit is still running)
        sqlite_process.send_message(ours, (1, [(sqlite_process.INSERT, (1, rows, []))]))
    _, stderr = process.communicate(timeout=30)
    assert (process.returncode, stderr.decode()) == (0, "")
    with contextlib.closing(sqlite3.connect(tmp_path / "disqueue.db")) as connection:
        assert connection.execute("SELECT count(*) FROM items").fetchone() == (20000,)


async def test_a_second_close_returns_once_the_writer_has_stopped(tmp_path: Path) -> None:
    """Two closes at once (a shutdown and a test's teardown): the second returns only
    once the first has committed and the process has exited, not while it commits."""
    path = tmp_path / "disqueue.db"
    storage = await _queue_of(path, "")
    put = asyncio.ensure_future(storage.put(Q, Item("a")))
    await asyncio.sleep(0)  # the put's insert is queued for the writer
    first = asyncio.ensure_future(storage.close())
    await asyncio.sleep(0)  # the first close is waiting for the put's commit
    await asyncio.wait_for(storage.close(), 10)
    process = storage.sqlite._writer._process
    assert process is not None and process.returncode is not None
    await first
    await put
