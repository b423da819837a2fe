"""The instruments of GET /metrics (gateway/metrics.py defines them): counts and histograms updated
where things happen (ingest, the report routes, compaction), and gauges of state (the queue, the
webhook outboxes, compaction lag) read when scraped. One registry per app: tests build many apps in
one process, and `percus serve` runs one."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.metrics import (
    ACCEPTED,
    COMPACTION_LAG,
    DEAD_LETTERS,
    DUPLICATES,
    FRESHNESS,
    OUTBOX,
    QUEUE_AGE,
    QUEUE_BACKLOG,
    REJECTED,
    REPORT_SECONDS,
    Definition,
)
from gateway.report_params import REPORTS
from gateway.reports_api import PREFIX as REPORTS_PREFIX
from pipeline import freshness
from pipeline.queue.base import Queue
from pipeline.queue.local import LocalQueue
from pipeline.store.base import Store
from pipeline.webhooks.outbox import dead_prefix, outbox_prefix


def _histogram(definition: Definition, registry: CollectorRegistry, buckets: tuple[float, ...]) -> Histogram:
    return Histogram(definition.name, definition.help, definition.labels, registry=registry, buckets=buckets)


class Metrics:
    """One app's instruments, in a registry of its own.

    The ingest counts are plain integers, exposed when scraped: prometheus-client's Counter takes a
    lock, about 1.5 µs an increment here (an accepted event costs the gateway about 25 µs), and they
    are only ever added to from the event loop's thread (the ingest routes run there)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.accepted = 0
        self.duplicates = 0
        self.rejections: dict[str, int] = {}  # by error code
        self.registry.register(_Counts(self))
        self.freshness = _histogram(FRESHNESS, self.registry, freshness.BUCKETS)
        self.report_seconds = _histogram(REPORT_SECONDS, self.registry, Histogram.DEFAULT_BUCKETS)

    def answered(self, accepted: int, duplicates: int = 0, rejected: tuple[str, ...] = ()) -> None:
        """An ingest request answered 202: its events enqueued, its duplicates and, in a batch, the
        error codes of its rejected events."""
        self.accepted += accepted
        self.duplicates += duplicates
        for code in rejected:
            self.rejected(code)

    def rejected(self, code: str) -> None:
        """One refusal: an event of a batch, or a request refused whole."""
        self.rejections[code] = self.rejections.get(code, 0) + 1

    def observe_freshness(self, seconds: list[float]) -> None:
        for value in seconds:
            self.freshness.observe(value)

    def watch(self, *, queue: Queue, store: Store) -> None:
        """Read `queue`'s backlog (a local queue's) and `store`'s webhook outboxes when scraped."""
        self.registry.register(_State(queue, store))

    def watch_compaction(self, lag: Callable[[], float]) -> None:
        """Read the background pipeline's compaction lag (percus/background.py) when scraped."""
        self.registry.register(_Lag(lag))

    def exposition(self) -> tuple[bytes, str]:
        """The text format, and its media type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _Counts(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield _counter(ACCEPTED, self.metrics.accepted)
        yield _counter(DUPLICATES, self.metrics.duplicates)
        rejected = CounterMetricFamily(REJECTED.name, REJECTED.help, labels=REJECTED.labels)
        for code, count in sorted(self.metrics.rejections.copy().items()):  # copied: it may grow meanwhile
            rejected.add_metric([code], count)
        yield rejected


class _State(Collector):
    def __init__(self, queue: Queue, store: Store) -> None:
        self.queue, self.store = queue, store

    def collect(self) -> Iterator[Metric]:
        if isinstance(self.queue, LocalQueue):  # SQS has its own metrics in CloudWatch
            backlog = self.queue.backlog()
            yield _gauge(QUEUE_BACKLOG, backlog.size)
            yield _gauge(QUEUE_AGE, 0.0 if backlog.oldest is None else _age(backlog.oldest))
        yield _gauge(OUTBOX, sum(1 for _ in self.store.list(outbox_prefix())))
        yield _gauge(DEAD_LETTERS, sum(1 for _ in self.store.list(dead_prefix())))


class _Lag(Collector):
    def __init__(self, lag: Callable[[], float]) -> None:
        self.lag = lag

    def collect(self) -> Iterator[Metric]:
        yield _gauge(COMPACTION_LAG, self.lag())


def _gauge(definition: Definition, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(definition.name, definition.help, value=value)


def _counter(definition: Definition, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(definition.name, definition.help, value=value)


def _age(body: bytes) -> float:
    """Seconds since a queued event was received (0 for a body that does not say when)."""
    try:
        received = datetime.fromisoformat(json.loads(body)["received_at"])
    except (ValueError, KeyError, TypeError):
        return 0.0
    return max(0.0, (datetime.now(UTC) - received).total_seconds())


class ReportTimer:
    """Times the answers of the report routes into `percus_report_duration_seconds`."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.timers = {f"{REPORTS_PREFIX}/{name}": metrics.report_seconds.labels(name) for name in REPORTS}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        timer = self.timers.get(scope["path"]) if scope["type"] == "http" else None
        if timer is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            timer.observe(time.perf_counter() - started)
