"""Power loss under load, on a disk that forgets what was not fsynced (tests/powerfs.py).

A kill -9 keeps the page cache, so it cannot catch a missing fsync; a power cut can.
Each round: start a server on the power-loss disk, run the ledger's load, cut the power
at a random moment, kill the server, power on, restart, drain, and check the ledger and
`PRAGMA integrity_check`. `DISQUEUE_POWER_ROUNDS` sets the rounds of the long version
(`make test-power`); `make test` runs a few.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from .helpers import Api, Server, launch
from .ledger import Findings, Ledger, Load, drain_all, findings, run_load
from .power import PowerDisk, power_disk

QUEUE = "5e0c6f9a-3b1d-4c2e-8f4a-9b8c7d6e5f41"
ROUNDS = int(os.environ.get("DISQUEUE_POWER_ROUNDS", "3"))
#: The issue's load: 8 writers (two of them in batches), 4 leased consumers acking,
#: WebSocket streaming.
LOAD = Load(writers=6, batch_writers=2, takers=0, leased=4, streams=2)


def _config(disk: PowerDisk, sync: str) -> dict[str, Any]:
    path = disk.mount / "data" / "disqueue.db"
    return {"storage": {"type": "sqlite", "path": str(path), "sync": sync}}


async def _cut_after(disk: PowerDisk, server: Server, seconds: float) -> None:
    await asyncio.sleep(seconds)
    await asyncio.to_thread(disk.cut)  # from here on nothing more reaches the disk
    server.kill()


async def _fsync_fails_then_cut(disk: PowerDisk, server: Server, seconds: float) -> None:
    """fsync fails with EIO for a moment in the middle of the load, then works again."""
    await asyncio.sleep(seconds / 3)
    await asyncio.to_thread(disk.fault, "fsync", "EIO")
    await asyncio.sleep(0.3)
    await asyncio.to_thread(disk.clear)
    await _cut_after(disk, server, seconds * 2 / 3)


def _integrity(disk: PowerDisk) -> str:
    with sqlite3.connect(disk.mount / "data" / "disqueue.db") as connection:
        (result,) = connection.execute("PRAGMA integrity_check").fetchone()
    return str(result)


Events = Callable[[PowerDisk, Server, float], Awaitable[None]]


def _round(
    disk: PowerDisk, node: Path, config: dict[str, Any], cut_after: float, events: Events
) -> tuple[Ledger, Findings]:
    """One round: load, `events` (a cut at least), restart, drain; the ledger, and what
    the restarted server disagreed on."""
    server = launch(node, config)
    try:
        with Api(server.url) as api:
            api.new_queue(QUEUE)
            assert api.drain(QUEUE) == []  # the previous round ended empty
        ledger = Ledger()
        asyncio.run(run_load(server.url, QUEUE, LOAD, ledger, events(disk, server, cut_after)))
    finally:
        server.kill()
    disk.power_off()
    disk.power_on()
    server = launch(node, config)
    try:
        with Api(server.url) as api:
            left = drain_all(api, QUEUE)
        assert server.stop() == 0
    finally:
        server.kill()
    assert _integrity(disk) == "ok", f"cut after {cut_after:.2f} s: the database is damaged"
    return ledger, findings(ledger, left)


def _rounds(
    tmp_path: Path, sync: str, rounds: int, lie: bool = False, events: Events = _cut_after
) -> list[Findings]:
    rng = random.Random(f"{sync}-{lie}")
    results = []
    with power_disk(tmp_path / "disk") as disk:
        for number in range(rounds):
            if lie:
                disk.lie()
            cut_after = 0.5 + rng.random() * 1.5
            config = _config(disk, sync)
            ledger, found = _round(disk, tmp_path / "node", config, cut_after, events)
            print(
                f"sync={sync} lie={lie} {events.__name__} round {number}: cut after "
                f"{cut_after:.2f} s, {found.acked} puts acknowledged, {len(ledger.acked_takes)} "
                f"takes, {ledger.refused} refused, {len(found.lost)} lost (allowance "
                f"{found.allowance}), {len(found.back)} acknowledged takes back"
            )
            results.append(found)
    return results


@pytest.mark.timeout(60 + 30 * ROUNDS)
def test_power_loss_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """With "sync": "full", power cuts at random moments of a mixed load lose no
    acknowledged put, bring back no acknowledged take, duplicate and invent nothing,
    keep each writer's order and leave a sound database."""
    for number, found in enumerate(_rounds(tmp_path, "full", ROUNDS)):
        found.assert_sound(f"round {number}")


@pytest.mark.timeout(60 + 30 * ROUNDS)
def test_sync_normal_loses_acknowledged_items_but_never_corrupts(tmp_path: Path) -> None:
    """With "sync": "normal" (commits answered before their fsync) power cuts do undo
    acknowledged changes, which shows the rounds can see a loss, but nothing is invented
    or duplicated, order holds, and the database stays sound."""
    results = _rounds(tmp_path, "normal", max(2, ROUNDS // 2))
    for number, found in enumerate(results):
        where = f"round {number}"
        assert found.acked > 50, f"{where}: the load did not get going"
        assert not found.invented, f"{where}: items nobody put appeared: {found.invented}"
        assert not found.duplicated, f"{where}: delivered twice: {found.duplicated}"
        assert not found.disordered, f"{where}: out of order: {found.disordered}"
    assert sum(found.violations for found in results) > 0, "no round lost anything"


@pytest.mark.timeout(60 + 30 * ROUNDS)
def test_failed_fsyncs_under_load_are_not_taken_for_durable(tmp_path: Path) -> None:
    """fsync fails for a moment under load (its pages are dropped, as on Linux), then
    works again; a power cut later still finds everything acknowledged: no answer rests on
    a write whose fsync failed ("fsyncgate")."""
    results = _rounds(tmp_path, "full", max(1, ROUNDS // 3), events=_fsync_fails_then_cut)
    for number, found in enumerate(results):
        found.assert_sound(f"round {number}")


def test_a_disk_that_skips_fsync_is_caught(tmp_path: Path) -> None:
    """The harness has teeth: when fsync makes nothing durable (as if the server had
    dropped its fsync before answering), the round finds acknowledged changes undone."""
    (found,) = _rounds(tmp_path, "full", 1, lie=True)
    assert found.acked > 50, "the load did not get going"
    assert found.violations > 0, "a lying fsync went unnoticed"
    with pytest.raises(AssertionError):
        found.assert_sound("lying disk")


def test_first_put_survives_a_cut_right_after_it(tmp_path: Path) -> None:
    """A fresh server creates data/ and its database; the queue and the first
    acknowledged put survive a power cut right after, so the folder above data/ (and
    data/ itself) were fsynced."""
    with power_disk(tmp_path / "disk") as disk:
        config = _config(disk, "full")
        server = launch(tmp_path / "node", config)
        try:
            with Api(server.url) as api:
                api.new_queue(QUEUE)
                api.put(QUEUE, "first")
            disk.cut()
        finally:
            server.kill()
        disk.power_off()
        disk.power_on()
        server = launch(tmp_path / "node", config)
        try:
            with Api(server.url) as api:
                assert api.queues() == [QUEUE]
                assert api.drain(QUEUE) == ["first"]
        finally:
            server.shutdown()
