"""The SQLite backend's writer: operations gathered on the event loop into batches, each
run by the writer process (`sqlite_process`) in one transaction.

The event loop queues operations (insert an item, delete one, ...). While the process
is idle, what is queued is sent to it at the end of the loop's turn; while it commits,
what comes meanwhile waits and is sent the moment its answer arrives. So all the
requests in flight share one commit and one fsync, and the process never waits for
work that is there. The process runs operations of a kind together (`executemany`,
one `DELETE ... IN (...) RETURNING`), each kind's SQL written once, there.

Grouping by kind keeps every ordering that matters: an item becomes visible to
takes only after its insert is committed, so an insert and a delete of the same
item never share a batch; a queue is dropped last, after any insert queued
before the drop. If the transaction fails, every operation in it fails with
`StorageFailure` and none of them took effect. If the process is gone (killed),
every operation from then on fails so, and `running` is False (health: not ready).

No thread of this process touches SQLite, so none competes with the loop for the GIL:
a thread woken to take a batch got the GIL only once the loop had nothing left to do,
and then took everything, the whole of a worker's window in one commit
(docs/decisions/0018-sqlite-writer-process.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from disqueue.errors import StorageFailure
from disqueue.latency import Latencies
from disqueue.storage.embedded.sqlite_process import (
    CALL,
    COUNT,
    FORGET,
    HEADER,
    encode,
    receive_message,
    send_message,
)

log = logging.getLogger("disqueue.storage")

#: At most this many operations share one transaction.
MAX_BATCH = 4096
#: At most this long (seconds) totals wait for a batch that writes something else.
TOTALS_DELAY = 1.0
#: How long stopping waits for the process to exit once told to.
EXIT_TIMEOUT = 10.0

_Task = tuple[int, Any, "asyncio.Future[Any]"]

#: Kinds of operation that do not make a transaction of their own: totals (statistics,
#: never waited for) and lease records to forget (cleanup: one left over names
#: nothing) wait for the next batch that writes something else, or TOTALS_DELAY. A
#: commit (an fsync) for them alone would hold up the put or ack behind it.
_DEFERRED = (COUNT, FORGET)


class SQLiteWriter:
    """Owns the writer process; every write of the database, and every read of an
    item's value, goes through it."""

    def __init__(self, path: Path, sync: str) -> None:
        self._path = path
        self._sync = sync
        self._loop: asyncio.AbstractEventLoop | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._pipe: socket.socket | None = None  # until attached; then the streams
        self._transport: asyncio.Transport | None = None
        self._closed: asyncio.Future[None] | None = None  # the socket closed, both ends
        self._queued: list[_Task] = []
        self._sending: asyncio.Handle | None = None  # a send at the end of this turn
        self._holding: asyncio.TimerHandle | None = None  # deferred kinds alone
        self._due = False  # they have waited TOTALS_DELAY: the next send takes them
        self._committing: list[_Task] | None = None  # sent, not answered yet
        self._stopping = False
        self._gone: StorageFailure | None = None  # the process ended (it is not coming back)
        self._stopped: asyncio.Future[None] | None = None  # nothing left in flight
        self._exited: asyncio.Future[None] | None = None  # `stop` is done
        self.batches = 0
        #: Whether the last transaction failed (a bad disk): health then probes with a write.
        self.failing = False
        #: How long each committed group took, BEGIN to COMMIT (for `/metrics`).
        self.commits = Latencies()

    # -- life cycle ---------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the process and open the database in it (blocking, so from a thread;
        raises what opening raised, a `ConfigError`). `attach` then serves it."""
        self._loop = loop
        ours, theirs = socket.socketpair()
        # The process finds this package where this one was found (a test's or a
        # checkout's `sys.path`, not only an installed one).
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "disqueue.storage.embedded.sqlite_process",
             str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        theirs.close()
        self._pipe = ours
        try:
            send_message(ours, (str(self._path), self._sync))
            with ours.makefile("rb") as incoming:
                opened, answer = receive_message(incoming)
        except (EOFError, OSError) as exc:
            self._abandon()
            raise StorageFailure(f"storage {self._path}: the writer process did not start") from exc
        if not opened:
            self._abandon()
            raise answer
        for note in answer:
            log.info("%s", note)

    async def attach(self) -> None:
        """Serve the started process from the loop."""
        assert self._loop is not None and self._pipe is not None
        closed = self._closed = self._loop.create_future()
        try:
            self._transport, _ = await self._loop.create_unix_connection(
                lambda: _Answers(self, closed), sock=self._pipe
            )
        except BaseException:
            self._closed = None  # (no protocol: nothing will close it; `stop` closes the pipe)
            raise
        self._pipe = None

    async def stop(self) -> None:
        """Commit everything queued, and what the callers it answers queue at once (an
        ack's lease record to forget, the totals of what was answered), then end the
        process; what comes after fails with `StorageFailure`."""
        if self._process is None:
            return
        if self._stopping:  # (a second stop returns when the first has: it may reopen)
            if self._exited is not None:
                await asyncio.shield(self._exited)
            return
        self._stopping = True
        assert self._loop is not None
        exited = self._exited = self._loop.create_future()
        try:
            await self._stop()
        finally:
            exited.set_result(None)

    async def _stop(self) -> None:
        assert self._loop is not None
        while self._gone is None:
            self._stopped = self._loop.create_future()
            self._send()
            if self._committing is not None or self._queued:
                await self._stopped
            # The callers just answered run before this, and what they schedule (totals
            # are counted on the next turn) after: one turn more, then look again.
            await asyncio.sleep(0)
            if self._committing is None and not self._queued:
                break
        await self._close()
        await asyncio.to_thread(self._reap)

    @property
    def running(self) -> bool:
        """Whether the process is there to run operations."""
        process = self._process
        return self._gone is None and process is not None and process.poll() is None

    def submit(self, kind: int, argument: Any) -> asyncio.Future[Any]:
        """Queue an operation; its future resolves once its transaction is committed."""
        assert self._loop is not None, "writer not started"
        future: asyncio.Future[Any] = self._loop.create_future()
        if self._gone is not None:
            self._fail([(kind, argument, future)], self._gone)
            return future
        self._queued.append((kind, argument, future))
        if self._committing is None and self._sending is None:
            self._sending = self._loop.call_soon(self._send)
        return future

    def call(self, function: Callable[..., Any], *arguments: Any) -> asyncio.Future[Any]:
        """Run `function(connection, *arguments)` inside a batch (maintenance); a module
        function of `sqlite_process`, for it crosses the pipe by name."""
        return self.submit(CALL, (function, arguments))

    # -- batches ------------------------------------------------------------------

    def _send(self) -> None:
        """Send what is queued as one batch, if the process is idle and the batch
        writes something (or the deferred kinds have waited long enough, or we stop)."""
        self._sending = None
        queued = self._queued
        if self._committing is not None or not queued or self._gone is not None:
            return
        if not (self._due or self._stopping) and all(t[0] in _DEFERRED for t in queued):
            if self._holding is None:
                assert self._loop is not None
                self._holding = self._loop.call_later(TOTALS_DELAY, self._waited)
            return
        if self._holding is not None:
            self._holding.cancel()
            self._holding = None
        self._due = False
        batch, self._queued = queued[:MAX_BATCH], queued[MAX_BATCH:]
        if self._transport is None:  # (not attached: nothing can be sent)
            self._fail(batch, StorageFailure("the writer process is not attached"))
            return
        try:
            operations = [(kind, argument) for kind, argument, _ in batch]
            message = encode((self.batches, operations))
        except Exception as exc:  # a fault of ours (an argument that does not pickle)
            log.exception("storage %s: a batch could not be sent", self._path)
            self._fail(batch, exc)
            self._sending = asyncio.get_running_loop().call_soon(self._send)
            return
        self._transport.write(message)  # (a closed socket shows in `_Answers`)
        self._committing = batch

    def _waited(self) -> None:
        self._holding, self._due = None, True
        self._send()

    def _answered(self, answer: tuple[bool, Any, float | None, list[str]]) -> None:
        """The process answered the batch in flight."""
        ok, value, seconds, notes = answer
        batch, self._committing = self._committing, None
        if batch is None:  # (nothing was asked: no answer is due)
            return self._lost(OSError("the writer process answered out of turn"))
        self.batches += 1
        self._send()  # the next batch is committed while this one's callers go on
        for note in notes:
            log.error("%s", note)
        if ok:
            self.commits.observe(seconds or 0.0)
            self.failing = False
            for (_, _, future), result in zip(batch, value, strict=True):
                if not future.done():
                    future.set_result(result)
        else:
            self.failing = True
            log.error("storage failure, %d operations refused: %s", len(batch), value)
            self._fail(batch, value)
        if self._stopping and self._committing is None and not self._queued:
            self._settle_stop()

    def _lost(self, exc: BaseException) -> None:
        """The process is gone: what was sent and what is queued fail, and so does
        everything from now on."""
        if self._gone is not None:
            return
        process = self._process
        code = None if process is None else process.poll()
        gone = StorageFailure(f"the writer process has stopped (exit status {code})")
        gone.__cause__ = exc
        self._gone = gone
        if not self._stopping:
            log.error("storage %s: %s", self._path, gone.message)
        if self._transport is not None:  # (this end: the process is gone)
            self._transport.close()
            self._transport = None
        lost = [*(self._committing or []), *self._queued]
        self._committing, self._queued = None, []
        self._fail(lost, gone)
        self._settle_stop()

    def _fail(self, batch: list[_Task], cause: BaseException) -> None:
        for _, _, future in batch:
            if not future.done():
                failure = StorageFailure()
                failure.__cause__ = cause
                future.set_exception(failure)

    def _settle_stop(self) -> None:
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    async def _close(self) -> None:
        """Tell the process to exit, close the socket, and wait for it to close. From
        now on every operation fails at once (the socket's loss is seen a turn later:
        a batch sent meanwhile would have had nobody to answer it)."""
        if self._gone is None:
            self._gone = StorageFailure(f"storage {self._path}: the writer has stopped")
            lost = [*(self._committing or []), *self._queued]
            self._committing, self._queued = None, []
            self._fail(lost, self._gone)
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.write(encode(None))
            transport.close()
        if self._pipe is not None:  # (started, never attached: EOF ends the process)
            self._pipe.close()
            self._pipe = None
        if self._closed is not None:
            await self._closed

    def _abandon(self) -> None:
        """Opening failed: close the pipe and reap the process (blocking)."""
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        self._reap()

    def _reap(self) -> None:
        """Wait for the process to exit (blocking), killing it if it does not."""
        process = self._process
        if process is None:
            return
        try:
            process.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.error("storage %s: the writer process did not exit; killed", self._path)
            process.kill()
            process.wait()


class _Answers(asyncio.Protocol):
    """The server's end of the socket: each answer the process sends (a 4-byte length,
    then the pickle) goes to the writer as soon as it is whole, in the loop turn that
    read it (a stream reader's task would take a turn more, twice a delivery)."""

    def __init__(self, writer: SQLiteWriter, closed: asyncio.Future[None]) -> None:
        self._writer = writer
        self._closed = closed
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer)
            end = HEADER.size + size
            if len(buffer) < end:
                return
            answer = pickle.loads(buffer[HEADER.size : end])
            del buffer[:end]
            self._writer._answered(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._writer._lost(exc or EOFError("the writer process closed its socket"))
        if not self._closed.done():
            self._closed.set_result(None)
