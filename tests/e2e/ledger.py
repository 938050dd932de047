"""A load of clients that write down what the server told them, and the check of that
ledger against what a restarted server still has: the proof behind the durability
promise (kill -9 in test_durability.py, power loss in test_power_loss.py).

The load: writers putting one item at a time or in batches, plain takers, leased
consumers that ack, and WebSocket consumers streaming with `count` wants, all on one
queue, until something (a kill, a power cut) stops the server under them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field

import aiohttp

from .helpers import Api, ws_url

#: Seconds a leased consumer holds an item: short, so a restarted server gives back
#: what was in flight at the crash soon enough for the drain.
LEASE = 2
#: Items per WebSocket want: a crash may swallow at most this many deliveries a stream.
STREAM_COUNT = 5
BATCH = 10


@dataclass(frozen=True)
class Load:
    """How many clients of each kind."""

    writers: int = 6
    batch_writers: int = 0
    takers: int = 3
    leased: int = 0
    streams: int = 0


@dataclass
class Ledger:
    """What the clients were told, to check against what the server has after a crash."""

    acked_puts: dict[str, int] = field(default_factory=dict)  # value → writer's sequence
    attempted: set[str] = field(default_factory=set)
    acked_takes: list[str] = field(default_factory=list)  # taken, streamed, or leased and acked
    leased: set[str] = field(default_factory=set)  # leased, ack not answered: may come back
    unanswered_takes: int = 0  # removals whose answer the crash may have swallowed
    refused: int = 0  # requests answered with a server error (a failing disk)


@dataclass
class Findings:
    """How what is left after a crash disagrees with the ledger."""

    acked: int
    lost: set[str]  # acknowledged puts that are nowhere
    allowance: int  # how many of those an unanswered take may explain
    back: set[str]  # acknowledged takes that are queued again
    duplicated: list[str]
    invented: set[str]
    disordered: list[str]  # writers whose queued items are out of order

    @property
    def violations(self) -> int:
        """Acknowledged changes undone: puts lost (beyond the allowance), takes back."""
        return max(0, len(self.lost) - self.allowance) + len(self.back)

    def assert_sound(self, where: str) -> None:
        """Nothing acknowledged undone, nothing twice, nothing invented, order kept."""
        assert self.acked > 50, f"{where}: the load did not get going"
        assert not self.invented, f"{where}: items nobody put appeared: {self.invented}"
        assert not self.duplicated, f"{where}: delivered twice: {self.duplicated}"
        assert not self.back, f"{where}: acknowledged takes came back: {self.back}"
        assert len(self.lost) <= self.allowance, f"{where}: acknowledged puts lost: {self.lost}"
        assert not self.disordered, f"{where}: out of order: {self.disordered}"


def findings(ledger: Ledger, left: list[str]) -> Findings:
    """Compare the ledger with `left`, everything a restarted server still had."""
    taken = ledger.acked_takes
    seen = set(taken) | set(left)
    counted: dict[str, int] = {}
    for value in [*taken, *left]:
        counted[value] = counted.get(value, 0) + 1
    back = set(taken) & set(left)
    duplicated = [value for value, n in counted.items() if n > 1 and value not in back]
    disordered = []
    returned = ledger.leased | back  # a lease (an undone ack's too) comes back in front
    for writer in sorted({value.rsplit("-", 1)[0] for value in left}):
        order = [
            int(v.rsplit("-", 1)[1])
            for v in left
            if v.startswith(writer + "-") and v not in returned
        ]
        if order != sorted(order):
            disordered.append(writer)
    return Findings(
        acked=len(ledger.acked_puts),
        lost=set(ledger.acked_puts) - seen - ledger.leased,
        allowance=ledger.unanswered_takes,
        back=back,
        duplicated=duplicated,
        invented=seen - ledger.attempted,
        disordered=disordered,
    )


def drain_all(api: Api, queue: str, timeout: float = 30.0) -> list[str]:
    """Every item left in `queue`, once the leases the crash left in flight expired
    (none if the queue itself is gone)."""
    if queue not in api.queues():
        return []
    deadline = time.monotonic() + timeout
    while (info := api.info(queue))["in_flight"] or info["delayed"]:
        assert time.monotonic() < deadline, f"leases never expired: {info}"
        time.sleep(0.1)
    return api.drain(queue)


# --------------------------------------------------------------------------- clients

_DOWN = (TimeoutError, aiohttp.ClientError, ConnectionError)


async def _refused(ledger: Ledger) -> None:
    """A server error (a failing disk): count it, and go on a little later."""
    ledger.refused += 1
    await asyncio.sleep(0.01)


async def _writer(session: aiohttp.ClientSession, url: str, queue: str, name: str,
                  ledger: Ledger) -> None:  # fmt: skip
    for n in range(1_000_000):
        value = f"{name}-{n}"
        ledger.attempted.add(value)
        try:
            async with session.post(f"{url}/put", data={"name": queue, "value": value}) as r:
                await r.read()
        except _DOWN:
            return  # the server died under us: this put may or may not have landed
        if r.status == 200:
            ledger.acked_puts[value] = n
        else:
            await _refused(ledger)


async def _batch_writer(session: aiohttp.ClientSession, url: str, queue: str, name: str,
                        ledger: Ledger) -> None:  # fmt: skip
    for start in range(0, 1_000_000, BATCH):
        values = {f"{name}-{n}": n for n in range(start, start + BATCH)}
        ledger.attempted.update(values)
        body = {"name": queue, "items": [{"value": value} for value in values]}
        try:
            async with session.post(f"{url}/put", json=body) as r:
                await r.read()
        except _DOWN:
            return
        if r.status == 200:
            ledger.acked_puts.update(values)  # all of them or none
        else:
            await _refused(ledger)


async def _taker(session: aiohttp.ClientSession, url: str, queue: str, ledger: Ledger) -> None:
    while True:
        try:
            async with session.post(f"{url}/take", data={"name": queue}) as r:
                body = await r.json()
        except _DOWN:
            ledger.unanswered_takes += 1  # may have removed an item we never saw
            return
        if r.status == 200:
            ledger.acked_takes.append(body["payload"]["value"])
        elif r.status == 404:
            await asyncio.sleep(0.001)
        else:
            await _refused(ledger)


async def _leased(session: aiohttp.ClientSession, url: str, queue: str, ledger: Ledger) -> None:
    while True:
        try:
            async with session.post(f"{url}/take", data={"name": queue, "lease": LEASE}) as r:
                body = await r.json()
            if r.status == 404:
                await asyncio.sleep(0.001)
                continue
            if r.status != 200:
                await _refused(ledger)
                continue
            item = body["payload"]
            ledger.leased.add(item["value"])
            async with session.post(f"{url}/ack", data={"name": queue, "id": item["id"]}) as r:
                await r.read()
        except _DOWN:
            return  # an unanswered leased take leaves its item in flight: it comes back
        if r.status == 200:
            ledger.leased.discard(item["value"])
            ledger.acked_takes.append(item["value"])
        else:
            await _refused(ledger)  # not acknowledged: the item comes back when the lease ends


async def _stream(session: aiohttp.ClientSession, url: str, queue: str, name: str,
                  ledger: Ledger) -> None:  # fmt: skip
    remaining = 0
    try:
        async with session.ws_connect(ws_url(url)) as ws:
            for n in range(1_000_000):
                want = {"identifier": f"{name}-{n}", "queue": queue, "count": STREAM_COUNT}
                await ws.send_str(json.dumps(want))
                remaining = STREAM_COUNT
                while remaining:
                    message = await ws.receive()
                    if message.type != aiohttp.WSMsgType.TEXT:
                        return
                    frame = json.loads(message.data)
                    if not frame["success"]:
                        return
                    ledger.acked_takes.append(frame["payload"]["item"]["value"])
                    remaining -= 1
    except _DOWN:
        pass
    finally:
        ledger.unanswered_takes += remaining  # removed for us, maybe never sent


async def run_load(url: str, queue: str, load: Load, ledger: Ledger,
                   stop: Awaitable[None]) -> None:  # fmt: skip
    """Run the clients of `load` until `stop` (which kills the server, or cuts its
    power) is done and every client has seen the server go."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        clients = [_writer(session, url, queue, f"w{i}", ledger) for i in range(load.writers)]
        clients += [
            _batch_writer(session, url, queue, f"b{i}", ledger) for i in range(load.batch_writers)
        ]
        clients += [_taker(session, url, queue, ledger) for _ in range(load.takers)]
        clients += [_leased(session, url, queue, ledger) for _ in range(load.leased)]
        clients += [_stream(session, url, queue, f"s{i}", ledger) for i in range(load.streams)]
        tasks = [asyncio.create_task(client) for client in clients]
        try:
            await stop
            await asyncio.wait_for(asyncio.gather(*tasks), 30)
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)
