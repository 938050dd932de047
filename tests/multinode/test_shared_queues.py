"""Two nodes on one database and schema are one queue service: what one node does the
other sees, and a take is atomic across nodes."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from ..e2e.helpers import Api, Server, create_queue, take_with, wait_until
from ..pg import fresh_schema
from .conftest import StartNode
from .pgserver import schema_exists


def test_queue_made_on_one_node_is_used_on_the_other(apis: tuple[Api, Api]) -> None:
    """Create and put on A; B lists it, reports the same info, takes the item (FIFO,
    keys case-insensitive); a delete on B is seen by A."""
    a, b = apis
    queue = a.new_queue()
    assert queue in a.queues()
    assert queue in b.queues()
    a.put(queue, "first")
    a.put(queue, "keyed", key="Colour")
    a.put(queue, "second")
    info_a, info_b = a.info(queue), b.info(queue)
    assert (info_a["name"], info_a["size"], info_a["put"]) == (queue, 3, 3), info_a
    assert (info_b["name"], info_b["size"]) == (queue, 3), info_b
    assert info_a["created"] == info_b["created"]
    # The running totals of another node may reach B a moment later.
    wait_until(lambda: b.info(queue)["put"] == 3, timeout=5, what="B counting A's puts")

    assert b.peek(queue).ok()["value"] == "first"
    assert b.take_item(queue, key="COLOUR")["value"] == "keyed"
    assert b.take_item(queue)["value"] == "first"
    assert a.take_item(queue)["value"] == "second"
    b.take(queue).error(404, "no item to take")
    a.take(queue).error(404, "no item to take")
    wait_until(lambda: a.info(queue)["taken"] == 3, timeout=5, what="A counting B's takes")

    a.put(queue, "left behind")
    b.call("DELETE", "/queue", data={"name": queue}).ok()
    a.call("POST", "/queue", data={"name": queue}).error(404, "queue does not exist")
    a.call("POST", "/put", data={"name": queue, "value": "x"}).error(404, "queue does not exist")
    a.take(queue).error(404, "queue does not exist")
    assert queue not in a.queues()
    assert queue not in b.queues()


def test_queue_settings_and_order_agree_across_nodes(apis: tuple[Api, Api]) -> None:
    """A queue created on B with settings shows them on A; queues list oldest first on
    both; a second create of the same name on A with other settings is a 409 and keeps
    B's settings (API.md Part 3), with none it answers the name."""
    a, b = apis
    first = create_queue(b, max_items=2, lease=30)
    second = a.new_queue()
    again = {"name": first, "max_items": "9"}
    a.call("POST", "/queues", data=again).error(409, "queue exists with other settings")
    assert create_queue(a, first) == first
    info = a.info(first)
    assert (info["max_items"], info["lease"]) == (2, 30), info
    assert a.queues() == b.queues() == [first, second]
    a.put(first, "one")
    b.put(first, "two")
    a.call("POST", "/put", data={"name": first, "value": "three"}).error(429, "queue is full")


def test_eight_takers_on_two_nodes_take_each_item_once(
    nodes: tuple[Server, Server], apis: tuple[Api, Api]
) -> None:
    """Puts on both nodes while 8 takers (4 per node) take: every item is delivered
    exactly once, none is lost."""
    a, b = apis
    queue = a.new_queue()
    per_putter, putters = 150, 2
    expected = {f"{p}-{i}" for p in range(putters) for i in range(per_putter)}
    taken: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def put_all(node: Server, prefix: int) -> None:
        with Api(node.url) as client:
            for i in range(per_putter):
                client.put(queue, f"{prefix}-{i}")

    def take_until_done(node: Server) -> None:
        with Api(node.url) as client:
            while not done.is_set():
                reply = take_with(client, queue, wait=0.5)
                if reply.status == 404:
                    reply.error(404, "no item to take")
                    continue
                with lock:
                    taken.append(reply.ok()["value"])
                    if len(taken) >= len(expected):
                        done.set()

    with ThreadPoolExecutor(max_workers=10) as pool:
        takers = [pool.submit(take_until_done, nodes[i % 2]) for i in range(8)]
        puts = [pool.submit(put_all, nodes[p], p) for p in range(putters)]
        for future in puts:
            future.result(timeout=40)
        done.wait(timeout=30)
        done.set()
        for future in takers:
            future.result(timeout=10)

    duplicates = [value for value, n in Counter(taken).items() if n > 1]
    assert not duplicates, f"delivered more than once: {duplicates[:10]}"
    assert set(taken) == expected, f"lost: {sorted(expected - set(taken))[:10]}"
    a.take(queue).error(404, "no item to take")
    wait_until(lambda: b.info(queue)["taken"] == len(expected), timeout=5, what="taken total")


def test_batch_takes_on_two_nodes_split_the_items(apis: tuple[Api, Api]) -> None:
    """`count` takes on both nodes at once split a batch put between them."""
    a, b = apis
    queue = a.new_queue()
    values = [f"v{i}" for i in range(1000)]
    ids = a.call(
        "POST", "/put", json_body={"name": queue, "items": [{"value": v} for v in values]}
    ).ok()["ids"]
    assert len(ids) == len(values)

    def batch(client: Api) -> list[str]:
        got: list[str] = []
        while True:
            items = take_with(client, queue, count=37).ok()
            if not items:
                return got
            got.extend(item["value"] for item in items)

    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(batch, [a, b]))
    together = parts[0] + parts[1]
    assert sorted(together) == sorted(values)
    assert len(together) == len(set(together))
    position = {value: i for i, value in enumerate(values)}
    for part in parts:  # each node hands out its share oldest first
        assert part == sorted(part, key=position.__getitem__)


def test_two_nodes_starting_together_on_an_empty_schema(start_node: StartNode) -> None:
    """The migration race: two nodes started at the same moment on a schema that does
    not exist yet both come up and serve one queue service (twice, on new schemas)."""
    for _ in range(2):
        with fresh_schema() as schema:
            assert not schema_exists(schema)
            nodes = start_together(start_node, schema)
            with Api(nodes[0].url) as a, Api(nodes[1].url) as b:
                queue = b.new_queue()
                a.put(queue, "from a")
                assert b.take_item(queue)["value"] == "from a"
            assert schema_exists(schema)
            for node in nodes:
                node.shutdown()


def start_together(start_node: StartNode, schema: str) -> list[Server]:
    """Start two nodes on `schema` at once (each launch waits for its node's /health)."""
    barrier = threading.Barrier(2)

    def start() -> Server:
        barrier.wait()
        return start_node(schema)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda _: start(), range(2)))
