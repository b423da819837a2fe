"""The instruments of GET /metrics (gateway/metrics.py defines them): counts and histograms updated
where things happen (ingest, the report routes, compaction), and gauges of state (the queue, the
webhook outboxes, compaction lag) read when scraped. One registry per app: tests build many apps in
one process, each counting on its own; `percus serve`'s processes share a run directory where each
counts in a slot of its own and a scrape sums them all (gateway/metric_slots.py)."""

from __future__ import annotations

import json
import math
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.metric_slots import Layout, Slot, Snapshot, read_all
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

# The cells of a slot. A histogram takes a count per bucket, +Inf's last, then its sum.
_ACCEPTED, _DUPLICATES = 0, 1
_WAITING = 2  # since when landed raw objects wait for compaction (monotonic); inf: none; 0: not told
_FRESHNESS_BOUNDS = freshness.BUCKETS
_REPORT_BOUNDS = tuple(bound for bound in Histogram.DEFAULT_BUCKETS if bound != math.inf)
_FRESHNESS = 3
_FIRST_REPORT = _FRESHNESS + len(_FRESHNESS_BOUNDS) + 2
_REPORTS = {name: _FIRST_REPORT + index * (len(_REPORT_BOUNDS) + 2) for index, name in enumerate(REPORTS)}
LAYOUT = Layout(_FIRST_REPORT + len(REPORTS) * (len(_REPORT_BOUNDS) + 2),
                f"accepted duplicates waiting freshness{_FRESHNESS_BOUNDS} {list(REPORTS)}{_REPORT_BOUNDS}")


class Metrics:
    """One app's instruments, in a registry of its own, counting in `slot` (in memory unless given);
    a scrape sums the slots of `run_dir` (this one's alone unless given). `Metrics.shared` is a
    process's of `percus serve`.

    The ingest counts are stores to the slot's memory, exposed when scraped: prometheus-client's
    Counter takes a lock, about 1.5 µs an increment here (an accepted event costs the gateway about
    25 µs). Each cell is updated from one thread at a time: the ingest counts and the report durations
    from the event loop's, the freshness from the background pipeline's, the compaction lag under its
    lock."""

    def __init__(self, slot: Slot | None = None, run_dir: Path | None = None) -> None:
        self._slot = slot or Slot.in_memory(LAYOUT)
        self._run_dir = run_dir
        self._ints = self._slot.ints
        self.freshness = _Histogram(self._slot, _FRESHNESS, _FRESHNESS_BOUNDS)
        self.report_seconds = {name: _Histogram(self._slot, first, _REPORT_BOUNDS)
                               for name, first in _REPORTS.items()}
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_Counts(self._snapshots))

    @classmethod
    def shared(cls, run_dir: Path, slot: str) -> Metrics:
        """A process's of `percus serve`: it counts in slot `slot` of `run_dir` (continuing from what
        the slot holds, when restarted), and its scrapes sum every slot there. One process per slot
        (metric_slots.SlotInUse otherwise)."""
        return cls(Slot.open(run_dir, slot, LAYOUT), run_dir)

    def answered(self, accepted: int, duplicates: int = 0, rejected: tuple[str, ...] = ()) -> None:
        """An ingest request answered 202: its events enqueued, its duplicates and, in a batch, the
        error codes of its rejected events."""
        self._ints[_ACCEPTED] += accepted
        if duplicates:
            self._ints[_DUPLICATES] += duplicates
        if rejected:  # iterating over nothing costs more than the rest (callgrind)
            for code in rejected:
                self.rejected(code)

    def rejected(self, code: str) -> None:
        """One refusal: an event of a batch, or a request refused whole."""
        self._ints[self._slot.label(code)] += 1

    def observe_freshness(self, seconds: list[float]) -> None:
        for value in seconds:
            self.freshness.observe(value)

    def compaction_waiting(self, since: float | None) -> None:
        """Raw objects landed at `since` (time.monotonic(), the same clock in every process) wait for
        compaction, or none (None): the background pipeline says so as it changes (percus/background.py),
        and the lag is exposed from then on."""
        self._slot.floats[_WAITING] = math.inf if since is None else since

    def watch(self, *, queue: Queue, store: Store) -> None:
        """Read `queue`'s backlog (a local queue's) and `store`'s webhook outboxes when scraped."""
        self.registry.register(_State(queue, store))

    def exposition(self) -> tuple[bytes, str]:
        """The text format, and its media type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def _snapshots(self) -> list[Snapshot]:
        if self._run_dir is None:
            return [self._slot.snapshot()]
        return list(read_all(self._run_dir, LAYOUT))


class _Histogram:
    """A histogram's cells, from `first`: a count per bucket of `bounds` and +Inf's, then the sum."""

    def __init__(self, slot: Slot, first: int, bounds: tuple[float, ...]) -> None:
        self._ints, self._floats = slot.ints, slot.floats
        self._first, self._sum, self._bounds = first, first + len(bounds) + 1, bounds

    def observe(self, value: float) -> None:
        self._ints[self._first + bisect_left(self._bounds, value)] += 1  # bisect_left: `le` includes
        self._floats[self._sum] += value


class _Counts(Collector):
    """What the slots hold, summed."""

    def __init__(self, snapshots: Callable[[], list[Snapshot]]) -> None:
        self.snapshots = snapshots

    def collect(self) -> Iterator[Metric]:
        slots = self.snapshots()
        yield _counter(ACCEPTED, sum(slot.ints[_ACCEPTED] for slot in slots))
        yield _counter(DUPLICATES, sum(slot.ints[_DUPLICATES] for slot in slots))
        rejected = CounterMetricFamily(REJECTED.name, REJECTED.help, labels=REJECTED.labels)
        codes: dict[str, int] = {}
        for slot in slots:
            for code, count in slot.labels.items():
                codes[code] = codes.get(code, 0) + count
        for code, count in sorted(codes.items()):
            rejected.add_metric([code], count)
        yield rejected
        waiting = [slot.floats[_WAITING] for slot in slots if slot.floats[_WAITING] != 0.0]
        if waiting:
            now = time.monotonic()
            yield _gauge(COMPACTION_LAG, max(0.0 if since == math.inf else max(0.0, now - since)
                                             for since in waiting))
        yield _histogram(FRESHNESS, slots, {(): _FRESHNESS}, _FRESHNESS_BOUNDS)
        yield _histogram(REPORT_SECONDS, slots, {(name,): first for name, first in _REPORTS.items()},
                         _REPORT_BOUNDS)


def _histogram(definition: Definition, slots: list[Snapshot], cells: dict[tuple[str, ...], int],
               bounds: tuple[float, ...]) -> HistogramMetricFamily:
    """The histograms of `cells` (the first cell of each, by its labels' values), summed."""
    family = HistogramMetricFamily(definition.name, definition.help, labels=definition.labels)
    for labels, first in cells.items():
        cumulative, buckets = 0, []
        for index, bound in enumerate((*bounds, math.inf)):
            cumulative += sum(slot.ints[first + index] for slot in slots)
            buckets.append(("+Inf" if bound == math.inf else repr(bound), float(cumulative)))
        family.add_metric(list(labels), buckets,
                          sum_value=sum(slot.floats[first + len(bounds) + 1] for slot in slots))
    return family


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
        self.timers = {f"{REPORTS_PREFIX}/{name}": metrics.report_seconds[name] for name in REPORTS}

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
