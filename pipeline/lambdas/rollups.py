"""The rollups Lambda: nightly (EventBridge), rebuilds yesterday's and today's rollups, and every
older day whose curated inputs changed since its last build (late events, a compaction that caught
up), which `build_rollups` finds from the compactor's commit records without reading any data.

The days come from the schedule's `time`, not the clock, so a delayed or retried invocation still
builds the days of the night it was scheduled for.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pipeline.lambdas._environment import data_store
from pipeline.reporting.rollups import build_rollups
from pipeline.store.base import Store

log = logging.getLogger(__name__)


def scheduled_day(event: Mapping[str, Any]) -> date:
    """The UTC date of an EventBridge event's `time`; today for an event without one (a manual run)."""
    if "time" not in event:
        return datetime.now(UTC).date()
    return datetime.fromisoformat(event["time"]).astimezone(UTC).date()


def process(store: Store, today: date) -> dict[str, Any]:
    # Yesterday and today are not closed (late events still arrive), so build_rollups' own pass
    # over changed days leaves them out: they are rebuilt unconditionally.
    reports = [build_rollups(store, today=today)]
    reports += [build_rollups(store, day=day) for day in (today - timedelta(days=1), today)]
    result = {
        "today": today.isoformat(),
        "days_built": sorted(f"{org}/{day:%Y-%m-%d}" for report in reports for org, day in report.days_built),
        "days_fresh": sum(report.days_fresh for report in reports),
        "files_written": sum(report.files_written for report in reports),
        "rows_written": sum(report.rows_written for report in reports),
        "sessions": sum(report.sessions for report in reports),
    }
    log.info("rollups: %s", json.dumps(result))
    return result


@functools.cache
def store() -> Store:
    return data_store()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process(store(), scheduled_day(event))
