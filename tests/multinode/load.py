"""A bounded load of puts and takes over several nodes, and the ledger that checks it.

Every answer is recorded; an answer the test does not allow (a status other than the
ones it names, a broken envelope, an item nobody put) is kept as an error. A worker
stops by itself when `stop` is set, or when its node goes away if the test allows that.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import requests

from ..e2e.helpers import Api, Reply, Server, recv_delivery, send_want, wait_until, ws_url

STORAGE_UNAVAILABLE = (503, "storage unavailable")
NO_ITEM = (404, "no item to take")


@dataclass
class Ledger:
    """What the clients sent and what the service answered."""

    attempted: set[str] = field(default_factory=set)  # values sent in a put
    acknowledged: set[str] = field(default_factory=set)  # values whose put answered 200
    delivered: list[str] = field(default_factory=list)  # values of 200 takes, repeats kept
    failed_acks: Counter[str] = field(default_factory=Counter)  # value -> acks not 200
    answers: Counter[tuple[str, int, str | None]] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, op: str, reply: Reply, allowed: set[tuple[int, str | None]]) -> bool:
        """Count the answer; False (and an error kept) unless it is 200 or allowed."""
        with self.lock:
            self.answers[(op, reply.status, reply.message)] += 1
            if reply.status == 200 or (reply.status, reply.message) in allowed:
                return True
            self.errors.append(f"{op}: {reply.status} {reply.body}")
            return False

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)

    def duplicates(self) -> dict[str, int]:
        """Values delivered more than once, and how often."""
        return {value: n for value, n in Counter(self.delivered).items() if n > 1}

    def assert_at_least_once(self) -> None:
        """Nothing unexpected was answered, every put answered 200 was delivered, and an
        item was delivered again only after an ack of it had failed."""
        assert not self.errors, self.errors[:10]
        assert self.acknowledged, "no put was answered 200"
        lost = self.acknowledged - set(self.delivered)
        assert not lost, f"{len(lost)} acknowledged puts never delivered: {sorted(lost)[:10]}"
        again = {
            value: times
            for value, times in self.duplicates().items()
            if times - 1 > self.failed_acks[value]
        }
        assert not again, f"delivered again after a successful ack: {again}"

    def summary(self) -> str:
        """The answers by (op, status, message), for the test's output."""
        return ", ".join(
            f"{op} {status}{'' if message is None else ' ' + message}: {n}"
            for (op, status, message), n in sorted(self.answers.items(), key=str)
        )


@dataclass
class Load:
    """Put and take workers against nodes' base URLs until `stop` is set."""

    queue: str
    ledger: Ledger = field(default_factory=Ledger)
    stop: threading.Event = field(default_factory=threading.Event)
    #: Answers allowed besides 200 (e.g. 503 storage unavailable during an outage).
    allowed: set[tuple[int, str | None]] = field(default_factory=set)
    #: Base URLs whose node may die: a connection error there ends that worker quietly.
    mortal: set[str] = field(default_factory=set)
    #: Takes hold a lease of this many seconds and ack each item (at-least-once).
    lease: float | None = None
    _pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(16))
    _workers: list[Future[None]] = field(default_factory=list)

    def putter(self, url: str, prefix: str) -> None:
        """Start a worker putting `prefix-0`, `prefix-1`, ... through `url`."""
        self._workers.append(self._pool.submit(self._guard, url, self._put, prefix))

    def taker(self, url: str) -> None:
        """Start a worker taking (long polls of 0.5 s) through `url`."""
        self._workers.append(self._pool.submit(self._guard, url, self._take))

    def finish(self, timeout: float = 45.0) -> Ledger:
        """Stop the workers, wait for them, and hand back the ledger."""
        self.stop.set()
        for worker in self._workers:
            worker.result(timeout=timeout)
        self._pool.shutdown()
        return self.ledger

    def _guard(self, url: str, work: Any, *args: Any) -> None:
        with Api(url) as client:
            try:
                work(client, *args)
            except requests.ConnectionError as exc:
                if url not in self.mortal:
                    self.ledger.error(f"{url}: {exc}")
            except Exception as exc:  # an envelope check failed, or the like
                self.ledger.error(f"{url}: {type(exc).__name__}: {exc}")

    def _put(self, client: Api, prefix: str) -> None:
        sequence = 0
        while not self.stop.is_set():
            value = f"{prefix}-{sequence}"
            sequence += 1
            with self.ledger.lock:
                self.ledger.attempted.add(value)
            reply = client.call("POST", "/put", data={"name": self.queue, "value": value})
            if self.ledger.answer("put", reply, self.allowed) and reply.status == 200:
                assert isinstance(reply.payload["id"], str), reply.body
                with self.ledger.lock:
                    self.ledger.acknowledged.add(value)

    def _take(self, client: Api) -> None:
        data: dict[str, str] = {"name": self.queue, "wait": "0.5"}
        if self.lease is not None:
            data["lease"] = str(self.lease)
        while not self.stop.is_set():
            reply = client.call("POST", "/take", data=data)
            if not self.ledger.answer("take", reply, self.allowed | {NO_ITEM}):
                continue
            if reply.status == 200:
                self.record(reply.payload)
                if self.lease is not None:
                    self.ack(client, reply.payload)

    def record(self, item: Any) -> None:
        """Check a delivered item (a value somebody put, no key) and note it."""
        with self.ledger.lock:
            if not isinstance(item, dict) or item.get("value") not in self.ledger.attempted:
                self.ledger.errors.append(f"take: an item nobody put: {item!r}")
                return
            if item.get("key") is not None:
                self.ledger.errors.append(f"take: a key nobody put: {item!r}")
            self.ledger.delivered.append(item["value"])

    def ack(self, client: Api, item: dict[str, Any]) -> None:
        """Acknowledge a leased item; an ack that fails may see the item again."""
        reply = client.call("POST", "/ack", data={"name": self.queue, "id": item["id"]})
        allowed = self.allowed | {(404, "no such lease")}
        if not self.ledger.answer("ack", reply, allowed) or reply.status != 200:
            with self.ledger.lock:
                self.ledger.failed_acks[item["value"]] += 1

    def drain(self, client: Api, timeout: float = 30.0) -> None:
        """After the load: take (and ack, with a lease) until the queue holds nothing,
        ready or in flight; a take that answers 503 is retried."""
        deadline = time.monotonic() + timeout
        data: dict[str, str] = {"name": self.queue, "count": "100"}
        if self.lease is not None:
            data["lease"] = str(self.lease)
        while True:
            assert time.monotonic() < deadline, f"queue not drained within {timeout} s"
            reply = client.call("POST", "/take", data=data)
            self.ledger.answer("drain", reply, self.allowed)
            if reply.status != 200:
                time.sleep(0.2)
                continue
            for item in reply.payload:
                self.record(item)
                if self.lease is not None:
                    self.ack(client, item)
            if not reply.payload:
                info = client.info(self.queue)
                if info["size"] == info["in_flight"] == info["delayed"] == 0:
                    return
                time.sleep(0.2)


def _put_answered(client: Api, queue: str, value: str) -> bool:
    reply = client.call("POST", "/put", data={"name": queue, "value": value})
    if reply.status == 200:
        return True
    reply.error(*STORAGE_UNAVAILABLE)
    return False


def wait_serving(load: Load, urls: list[str], timeout: float = 30.0) -> None:
    """Wait until a put through each URL is answered 200 (503 meanwhile); the items put
    are in the ledger, for the drain."""
    for n, url in enumerate(urls):
        value = f"recovery-{n}"
        with load.ledger.lock:
            load.ledger.attempted.add(value)
        with Api(url) as client:
            check = functools.partial(_put_answered, client, load.queue, value)
            wait_until(check, timeout=timeout, interval=0.2, what=f"{url} serving again")
        with load.ledger.lock:
            load.ledger.acknowledged.add(value)


#: Takes under an outage hold a lease this long: an item whose ack was lost comes back.
OUTAGE_LEASE = 3.0


async def survive_outage(
    start_node: Callable[..., Server],
    dsn: str,
    http: aiohttp.ClientSession,
    outage: Callable[[], None],
) -> list[str]:
    """Two nodes on `dsn`; puts and leased takes (each item acked) through both while
    `outage()` takes the database away and brings it back. Then: every node serves
    again, the queue is drained, the ledger shows only 200 or 503 answers and
    at-least-once delivery, and a want on one node is woken by a put on the other
    (the listening connection listens again). The nodes' URLs."""
    urls = [start_node("disqueue", dsn).url for _ in range(2)]
    with Api(urls[0]) as client:
        queue = client.new_queue()
    load = Load(queue, allowed={STORAGE_UNAVAILABLE}, lease=OUTAGE_LEASE)
    for n, url in enumerate(urls):
        load.putter(url, f"p{n}")
        load.taker(url)
    try:
        outage()
    finally:
        load.finish()
    wait_serving(load, urls)
    with Api(urls[-1]) as client:
        load.drain(client)
    print(f"\n{load.ledger.summary()}")
    load.ledger.assert_at_least_once()
    await assert_woken_across(http, urls[0], urls[1], queue)
    return urls


async def assert_woken_across(
    http: aiohttp.ClientSession, put_url: str, want_url: str, queue: str
) -> None:
    """A WebSocket want through `want_url` gets an item put through `put_url` (after an
    outage: the node listening for notifications listens again)."""
    with Api(put_url) as putter, Api(want_url) as wanter:
        async with http.ws_connect(ws_url(want_url)) as ws:
            await send_want(ws, "after-outage", queue)
            wanter.wait_for_consumers(queue, 1)
            putter.put(queue, "after the outage")
            identifier, item = await recv_delivery(ws, within=10)
    assert (identifier, item["value"]) == ("after-outage", "after the outage")
