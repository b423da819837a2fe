"""Freshness, as pipeline/freshness.py defines it, from the receipt times a compaction took in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from pipeline.curated.schema import TIMESTAMP
from pipeline.freshness import freshness_seconds

RECEIVED = datetime(2026, 11, 25, 10, 0, 0, 250_000, tzinfo=UTC)


def test_seconds_from_receipt_to_the_commit_in_the_stored_unit() -> None:
    times = pa.chunked_array([pa.array([RECEIVED, RECEIVED + timedelta(seconds=1.5), None], TIMESTAMP)])
    assert freshness_seconds([times], RECEIVED + timedelta(seconds=10)) == [10.0, 8.5]


def test_other_units_empty_partitions_and_a_clock_behind_the_receipt() -> None:
    micros = pa.array([RECEIVED], pa.timestamp("us", tz="UTC"))
    empty = pa.array([], TIMESTAMP)
    assert freshness_seconds([empty, micros], RECEIVED + timedelta(milliseconds=1)) == [0.001]
    assert freshness_seconds([micros], RECEIVED - timedelta(seconds=3)) == [0.0]  # never negative
