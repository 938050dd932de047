"""Ordered keys over two nodes (issue 15): eight consumers on two PostgreSQL nodes take
10,000 items over 50 keys with leases. Within each key the items are acked in put order,
and never are two of one key in flight at once, whichever node delivered them."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from ..e2e.helpers import Api, create_queue

KEYS, PER_KEY, CONSUMERS = 50, 200, 8


@dataclass
class Groups:
    """What the consumers saw, per key: the item numbers in the order their acks were
    sent, and every delivery that came while an earlier item of its key was in flight."""

    acked: dict[str, list[int]] = field(default_factory=dict)
    overlaps: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def taken(self, items: list[dict[str, object]]) -> None:
        """A take's items arrived: each must follow its key's last ack already sent, or
        the item before it in the same take (one take may bring several of a group).
        Otherwise the item before it was still in flight, not even acked by its client."""
        with self.lock:
            last: dict[str, int] = {}
            for item in items:
                key, number = _parse(item)
                sent = self.acked.get(key, [])
                before = last.get(key, sent[-1] if sent else -1)
                if number != before + 1:
                    self.overlaps.append(f"{key}:{number} after {key}:{before}")
                last[key] = number

    def acking(self, items: list[dict[str, object]]) -> None:
        """Just before their ack is sent (the next item of a key can only come after the
        ack is done): the order, noted."""
        with self.lock:
            for item in items:
                key, number = _parse(item)
                self.acked.setdefault(key, []).append(number)


def _parse(item: dict[str, object]) -> tuple[str, int]:
    key, number = str(item["value"]).split(":")
    return key, int(number)


def _consume(api: Api, queue: str, groups: Groups, stop: threading.Event) -> int:
    acked = 0
    while not stop.is_set():
        reply = api.call("POST", "/take", data={"name": queue, "lease": "30", "count": "3",
                                                "wait": "1"})  # fmt: skip
        items = reply.ok()  # with a count: a list, empty when nothing came
        if not items:
            continue
        groups.taken(items)
        groups.acking(items)
        receipts = [item["receipt"] for item in items]
        done = api.call("POST", "/ack", json_body={"name": queue, "receipts": receipts}).ok()
        assert done["missing"] == [], done
        acked += len(items)
    return acked


@pytest.mark.timeout(300)
def test_eight_consumers_on_two_nodes_keep_every_group_in_order(apis: tuple[Api, Api]) -> None:
    """10,000 items over 50 keys, taken with leases by 4 consumers on each node: each
    key's items are acked in put order, and no two of a key are ever in flight at once."""
    a, b = apis
    queue = create_queue(a, ordered=1)
    # Runs of 5 of a key, key after key, round after round: two takes at once meet the
    # same group often (a take that skipped its neighbour's locked rows would find the
    # next items of their group).
    values = [f"k{k}:{run * 5 + i}" for run in range(PER_KEY // 5) for k in range(KEYS)
              for i in range(5)]  # fmt: skip
    for start in range(0, len(values), 1000):
        items = [{"value": v, "key": v.split(":")[0]} for v in values[start : start + 1000]]
        a.call("POST", "/put", json_body={"name": queue, "items": items}).ok()
    groups, stop = Groups(), threading.Event()
    urls = [a.base_url, b.base_url] * (CONSUMERS // 2)
    clients = [Api(url) for url in urls]
    try:
        with ThreadPoolExecutor(CONSUMERS) as pool:
            work = [pool.submit(_consume, api, queue, groups, stop) for api in clients]
            done = 0
            while done < len(values) and not any(w.done() for w in work):
                threading.Event().wait(0.2)
                with groups.lock:
                    done = sum(map(len, groups.acked.values()))
            stop.set()
            counts = [w.result() for w in work]  # raises what a consumer raised
    finally:
        for api in clients:
            api.close()
    assert sum(counts) == len(values)
    assert groups.overlaps == []
    assert groups.acked == {f"k{k}": list(range(PER_KEY)) for k in range(KEYS)}
    assert sum(counts[0::2]) > 0 and sum(counts[1::2]) > 0, counts  # both nodes delivered
    info = b.info(queue)
    assert (info["size"], info["in_flight"], info["ordered"]) == (0, 0, True)
