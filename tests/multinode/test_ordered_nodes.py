"""Ordered keys over two nodes (issue 15): eight consumers on two PostgreSQL nodes take
10,000 items over 50 keys with leases. Within each key the items are acked in put order,
and never are two of one key in flight at once, whichever node delivered them."""

from __future__ import annotations

import pytest

from ..e2e.groups import consume_all, fill_runs
from ..e2e.helpers import Api, create_queue

KEYS, PER_KEY, CONSUMERS = 50, 200, 8


@pytest.mark.timeout(300)
def test_eight_consumers_on_two_nodes_keep_every_group_in_order(apis: tuple[Api, Api]) -> None:
    """10,000 items over 50 keys, taken with leases by 4 consumers on each node: each
    key's items are acked in put order, and no two of a key are ever in flight at once."""
    a, b = apis
    queue = create_queue(a, ordered=1)
    total = fill_runs(a, queue, KEYS, PER_KEY)
    groups, counts = consume_all([a.base_url, b.base_url] * (CONSUMERS // 2), queue, total)
    assert sum(counts) == total
    assert groups.overlaps == []
    assert groups.acked == {f"k{k}": list(range(PER_KEY)) for k in range(KEYS)}
    assert sum(counts[0::2]) > 0 and sum(counts[1::2]) > 0, counts  # both nodes delivered
    info = b.info(queue)
    assert (info["size"], info["in_flight"], info["ordered"]) == (0, 0, True)
