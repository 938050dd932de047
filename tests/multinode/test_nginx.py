"""The README's "Running several nodes" example, run: two nodes from
examples/multinode/node*.json behind nginx with examples/multinode/nginx.conf."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ..e2e.helpers import (
    Api,
    Server,
    free_port,
    launch,
    recv_delivery,
    send_want,
    take_with,
    wait_until,
    ws_url,
)
from ..pg import DSN
from .proxy import EXAMPLE, Nginx


def example_node(number: int, schema: str) -> dict[str, Any]:
    """examples/multinode/node<number>.json, on the test database and schema and a free port."""
    config: dict[str, Any] = json.loads((EXAMPLE / f"node{number}.json").read_text())
    assert config["servers"][0]["port"] == 3682 + number, config
    assert config["storage"]["type"] == "postgres", config
    config["servers"][0]["port"] = free_port()
    config["storage"].update(dsn=DSN, schema=schema)
    return config


@pytest.fixture
def behind_nginx(schema: str, tmp_path: Path) -> Iterator[tuple[Nginx, Server, Server]]:
    """nginx and the two example nodes, all running."""
    nodes = [launch(tmp_path / f"node{n}", example_node(n, schema)) for n in (1, 2)]
    try:
        proxy = Nginx(tmp_path / "nginx", (nodes[0].ports[0], nodes[1].ports[0]))
        try:
            yield proxy, nodes[0], nodes[1]
        finally:
            proxy.stop()
    finally:
        for node in nodes:
            node.shutdown()


@pytest.mark.timeout(300)  # the first run on a new machine installs nginx (apt-get)
async def test_put_take_and_websocket_through_nginx(
    behind_nginx: tuple[Nginx, Server, Server], http: aiohttp.ClientSession
) -> None:
    """Through nginx: create, put, take, a long poll, and a WebSocket want that gets
    items put through nginx; both nodes see the queue."""
    proxy, node1, node2 = behind_nginx
    with Api(proxy.url) as api:
        queue = api.new_queue()
        for node in (node1, node2):
            with Api(node.url) as direct:
                assert queue in direct.queues()
        values = [f"v{i}" for i in range(6)]
        for value in values:
            api.put(queue, value)
        assert [api.take_item(queue)["value"] for _ in values] == values  # FIFO, any node
        api.take(queue).error(404, "no item to take")
        take_with(api, queue, wait=0.3).error(404, "no item to take")

        async with http.ws_connect(ws_url(proxy.url)) as ws:
            await send_want(ws, "w1", queue)
            await send_want(ws, "w2", queue)
            with Api(node1.url) as one, Api(node2.url) as two:  # the socket is on one node
                wait_until(lambda: one.info(queue)["consumers"] + two.info(queue)["consumers"] == 2)
            api.put(queue, "pushed-1")
            api.put(queue, "pushed-2")
            got = dict([await recv_delivery(ws), await recv_delivery(ws)])
        assert {want: item["value"] for want, item in got.items()} == {
            "w1": "pushed-1",
            "w2": "pushed-2",
        }
        api.take(queue).error(404, "no item to take")
        batch = api.call(
            "POST", "/put", json_body={"name": queue, "items": [{"value": "x" * 100}] * 300}
        ).ok()
        assert len(batch["ids"]) == 300
        assert len(take_with(api, queue, count=1000).ok()) == 300
