"""Freshness, defined once: the seconds from an event's POST, answered 202 (the gateway stamps its
received_at then), until the compaction that counts it in the summary report has committed (reports
read the open days from the curated zone). bench/freshness.py measures it from outside, polling
`percus report summary`; `percus serve` measures it from inside for each event it compacts, as the
`percus_freshness_seconds` histogram of GET /metrics (gateway/metrics.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

DEFINITION = ("Seconds from an event's POST (its received_at, stamped as the gateway answers 202) until "
              "the compaction that counts it in the summary report committed")
PROMISE_SECONDS = 60.0  # the embedded default's promise (issue 3): the benchmark's baseline
# Histogram buckets around the promise: the writer's 1 s batch and the compaction's duty cycle below
# it, an outage's backlog above it.
BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)


def freshness_seconds(received_at: Iterable[pa.Array | pa.ChunkedArray], counted_at: datetime) -> list[float]:
    """The freshness of each event received at `received_at` (timestamps) and counted at `counted_at`."""
    seconds: list[float] = []
    for times in received_at:
        if len(times):
            waited = pc.subtract(pa.scalar(counted_at, times.type), times).cast(pa.int64())
            unit = 1000 ** ("s", "ms", "us", "ns").index(times.type.unit)
            seconds.extend(max(0.0, value / unit) for value in waited.to_pylist() if value is not None)
    return seconds
