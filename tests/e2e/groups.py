"""Consumers of an ordered queue (API.md Part 3 "Ordered keys"), and the record that
checks them: per key, every delivery must follow the last ack already sent of its key
(or the item before it in the same take), and the acks must come in put order."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .helpers import Api


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


def fill_runs(api: Api, queue: str, keys: int, per_key: int) -> int:
    """Put `keys` x `per_key` items "k<key>:<number>" in runs of 5 of a key, key after key,
    round after round: two takes at once meet the same group often (a take that passed
    its neighbour's items would find the next items of their group). How many."""
    values = [f"k{k}:{run * 5 + i}" for run in range(per_key // 5) for k in range(keys)
              for i in range(5)]  # fmt: skip
    for start in range(0, len(values), 1000):
        items = [{"value": v, "key": v.split(":")[0]} for v in values[start : start + 1000]]
        api.call("POST", "/put", json_body={"name": queue, "items": items}).ok()
    return len(values)


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


def consume_all(urls: list[str], queue: str, total: int) -> tuple[Groups, list[int]]:
    """One consumer per URL (take count=3 with a lease, ack the batch) until `total`
    items were acked; the record, and how many items each consumer acked."""
    groups, stop = Groups(), threading.Event()
    clients = [Api(url) for url in urls]
    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            work = [pool.submit(_consume, api, queue, groups, stop) for api in clients]
            done = 0
            while done < total and not any(w.done() for w in work):
                threading.Event().wait(0.2)
                with groups.lock:
                    done = sum(map(len, groups.acked.values()))
            stop.set()
            counts = [w.result() for w in work]  # raises what a consumer raised
    finally:
        for api in clients:
            api.close()
    return groups, counts
