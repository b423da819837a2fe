"""The compactor Lambda: hourly (EventBridge), compacts every raw object not yet in curated/.

The deployment runs it with reserved concurrency 1: on S3 the compactor has no lock and must be the
only writer of `curated/` and `state/compactor/`. A run cut short by the Lambda timeout loses
nothing: the compactor commits per organization-day, and the next run carries on from there.

The other jobs that rewrite `curated/` run in this function for the same reason, named by the
event's `job`: `dsar` (pipeline/lambdas/dsar.py) and `retention` (pipeline/lambdas/retention.py).
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

from pipeline.curated.compactor import CompactionReport, compact
from pipeline.lambdas import dsar, retention
from pipeline.lambdas._environment import data_store
from pipeline.store.base import Store

log = logging.getLogger(__name__)


def summary(report: CompactionReport) -> dict[str, Any]:
    """The report with counts for lists, except the quarantined keys, which need an operator's look."""
    return {
        "raw_objects_read": report.raw_objects_read,
        "events_in": report.events_in,
        "duplicates_dropped": report.duplicates_dropped,
        "events_rejected": report.events_rejected,
        "rows_written": report.rows_written,
        "partitions_written": len(report.partitions_written),
        "quarantined_objects": report.quarantined_objects,
    }


def process(store: Store) -> dict[str, Any]:
    result = summary(compact(store))
    log.log(logging.WARNING if result["quarantined_objects"] else logging.INFO,
            "compaction: %s", json.dumps(result))
    return result


@functools.cache
def store() -> Store:
    return data_store()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = event.get("job", "compact")
    if job == "dsar":
        return dsar.handler(event, context)
    if job == "retention":
        return retention.handler(event, context)
    if job != "compact":
        raise ValueError(f"unknown job {job!r}: compact, dsar or retention")
    return process(store())
