"""The Python client's consumer window against a scripted WebSocket: the wants it
sends (never for less than half the window) and when it sends them (after a half
handled, before the rest of a long read is handled)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import orjson

from disqueue.client.consumer import AsyncConsumer
from disqueue.client.options import Options


class Frame:
    type = aiohttp.WSMsgType.TEXT

    def __init__(self, data: str) -> None:
        self.data = data


class ScriptedSocket:
    """A server that serves each want at once, in full, in the order they came, never
    waiting between frames (as when a whole commit's items arrive in one read)."""

    closed = False

    def __init__(self, items: int) -> None:
        self.items = items  # how many to serve in all
        self.served = 0
        self.wants: list[dict[str, Any]] = []
        self.sent: list[tuple[int, dict[str, Any]]] = []  # (items served before, message)
        self._open: list[list[Any]] = []  # [identifier, items still to serve]
        self._more = asyncio.Event()

    async def send_str(self, text: str) -> None:
        message = json.loads(text)
        self.sent.append((self.served, message))
        if "op" not in message:
            self.wants.append(message)
            self._open.append([message["identifier"], message.get("count", 1)])
            self._more.set()

    def __aiter__(self) -> ScriptedSocket:
        return self

    async def __anext__(self) -> Frame:
        while not self._open and self.served < self.items:
            self._more.clear()
            await self._more.wait()
        if self.served >= self.items:
            await asyncio.Event().wait()  # the rest never comes
        want = self._open[0]
        want[1] -= 1
        if want[1] == 0:
            self._open.pop(0)
        self.served += 1
        n = self.served
        item = {"value": f"v{n}", "id": f"i{n}", "attempts": 1, "receipt": f"i{n}.t"}
        payload = {"id": want[0], "item": {**item, "lease_expires": 1e10}}
        return Frame(orjson.dumps({"success": True, "payload": payload}).decode())


async def consume(items: int, prefetch: int) -> tuple[ScriptedSocket, list[int]]:
    """Handle `items` items; how many were in the buffer when each was handed out."""
    socket = ScriptedSocket(items)
    consumer = AsyncConsumer(Options("http://unused"), "q", lease=30, prefetch=prefetch)
    runner = asyncio.get_running_loop().create_task(consumer._serve(socket))  # type: ignore[arg-type]
    consumer._runner = runner
    buffered = []
    async for _ in consumer:
        buffered.append(len(consumer._buffer))
        if len(buffered) == items:
            break
    runner.cancel()
    return socket, buffered


async def test_wants_are_never_for_less_than_half_the_window() -> None:
    """With everything asked for already delivered and most of it in hand, the
    consumer waits until half is free instead of asking for one or two items."""
    socket, _ = await consume(1000, prefetch=100)
    counts = [want.get("count", 1) for want in socket.wants]
    assert counts[0] == 100
    assert min(counts) >= 50, counts
    assert sum(counts) >= 1000


async def test_the_next_want_leaves_before_a_long_read_is_handled() -> None:
    """When a whole window arrives in one read, the loop body gets the items half a
    window at a time: its acks and its next want leave after the first half is handled,
    while the rest of the read still waits (so the server leases the next items
    meanwhile)."""
    socket, buffered = await consume(200, prefetch=100)
    assert max(buffered) < 50  # never more than half read ahead of the loop body
    second = [served for served, message in socket.sent if "op" not in message][1]
    assert second <= 55, socket.sent[:3]  # the 2nd want: after ~50, not after 100
    acks = [message for _, message in socket.sent if message.get("op") == "ack"]
    assert acks and all(len(ack["receipts"]) <= 50 for ack in acks)
