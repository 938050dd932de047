"""`GET /metrics`: Prometheus text format, from prometheus-client.

Requests are timed as they are answered (one histogram observation each, by route,
method and status). Everything about the queues is read from the core at scrape
time by a custom collector, so a put pays nothing for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sized

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from disqueue.core.history import History
from disqueue.core.stats import Stats
from disqueue.latency import LatencySnapshot

#: Request latency buckets (seconds): from a fast put to a long poll's 60 s.
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 10.0, 60.0)  # fmt: skip

#: Per-queue gauges: metric name suffix, help, the `QueueStats` field.
_GAUGES = (
    ("ready", "Items ready to be taken.", "ready"),
    ("delayed", "Items put with a delay that are not visible yet.", "delayed"),
    ("in_flight", "Items leased and not yet acknowledged.", "in_flight"),
    ("consumers", "Consumers waiting for an item (WebSocket wants and long polls).",
     "consumers"),
)  # fmt: skip
_TOTALS = (
    ("put", "Items put, since the queue was created."),
    ("taken", "Items delivered by a take or to a consumer."),
    ("acked", "Leased items acknowledged."),
    ("redelivered", "Deliveries of items delivered before, since this server started."),
    ("expired", "Items dropped when their ttl ran out."),
    ("dead_lettered", "Items moved to the dead-letter queue (or dropped) after max_attempts."),
)

#: Per-queue states and settings, 1 or 0: the `QueueStats` field of the same name.
_FLAGS = (
    ("paused", "1 while the queue is paused (puts go on, nothing is delivered)."),
    ("ordered", "1 if the queue is ordered (each key a group, delivered one at a time)."),
)

Observe = Callable[[int, float], None]


class Metrics:
    """The metrics of one server process, shared by its listeners: its own registry
    (never prometheus-client's global one), the WebSocket connections to count, and the
    queues' history (`core/history.py`, sampled by the runner's one background task)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Histogram(
            "disqueue_http_request_duration_seconds",
            "HTTP requests by route, method and status, and how long they took to answer.",
            ["route", "method", "status"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.connections: list[Sized] = []
        self.history = History(time.time)

    def observer(self, route: str, method: str) -> Observe:
        """A function that records one answered request of `method route`."""
        children: dict[int, Histogram] = {}
        labels = self.requests.labels

        def observe(status: int, seconds: float) -> None:
            child = children.get(status)
            if child is None:
                child = children[status] = labels(route, method, str(status))
            child.observe(seconds)

        return observe

    def render(self, stats: Stats, *, ready: bool = True) -> bytes:
        """The text exposition of everything, with `stats` as the queues' state and
        `ready` whether the storage answered its health check."""
        websockets = sum(len(connections) for connections in self.connections)
        return generate_latest(_Scrape(self.registry, stats, websockets, ready))


class _Scrape(Collector):
    """One scrape: the registry's metrics, then the state read from the core."""

    def __init__(
        self, registry: CollectorRegistry, stats: Stats, websockets: int, ready: bool
    ) -> None:
        self._registry = registry
        self._stats = stats
        self._websockets = websockets
        self._ready = ready

    def collect(self) -> Iterable[Metric]:
        yield from self._registry.collect()
        storage = GaugeMetricFamily(
            "disqueue_storage_ready",
            "1 while the storage answers its health check (as /health), 0 when it does not.",
            labels=["storage"],
        )
        storage.add_metric([self._stats.storage], int(self._ready))
        yield storage
        yield from _queue_metrics(self._stats)
        connections = GaugeMetricFamily(
            "disqueue_websocket_connections", "Open WebSocket connections (/take/ws)."
        )
        connections.add_metric([], self._websockets)
        yield connections
        if self._stats.commits is not None:
            yield _commit_histogram(self._stats.storage, self._stats.commits)


def _queue_metrics(stats: Stats) -> Iterator[Metric]:
    count = GaugeMetricFamily("disqueue_queues", "Queues that exist.")
    count.add_metric([], len(stats.queues))
    yield count
    for suffix, doc, attribute in _GAUGES:
        gauge = GaugeMetricFamily(f"disqueue_queue_{suffix}", doc, labels=["queue"])
        for queue in stats.queues:
            gauge.add_metric([queue.name], getattr(queue, attribute))
        yield gauge
    age = GaugeMetricFamily(
        "disqueue_queue_oldest_age_seconds",
        "How long the oldest ready item has been in the queue (0 when none is ready).",
        labels=["queue"],
    )
    for queue in stats.queues:
        age.add_metric([queue.name], queue.oldest_age or 0.0)
    yield age
    for suffix, doc in _FLAGS:
        flag = GaugeMetricFamily(f"disqueue_queue_{suffix}", doc, labels=["queue"])
        for queue in stats.queues:
            flag.add_metric([queue.name], int(getattr(queue, suffix)))
        yield flag
    for name, doc in _TOTALS:
        counter = CounterMetricFamily(f"disqueue_queue_{name}", doc, labels=["queue"])
        for queue in stats.queues:
            counter.add_metric([queue.name], getattr(queue, name))
        yield counter


def _commit_histogram(storage: str, commits: LatencySnapshot) -> Metric:
    family = HistogramMetricFamily(
        "disqueue_storage_commit_duration_seconds",
        "Time per committed group of storage operations (one transaction, one fsync).",
        labels=["storage"],
    )
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip(commits.bounds, commits.counts, strict=False):
        running += count
        buckets.append((str(bound), running))
    buckets.append(("+Inf", commits.count))
    family.add_metric([storage], buckets, commits.total)
    return family
