"""The retention Lambda: daily (EventBridge, `{"job": "retention"}`), deletes what organizations'
retention overrides have put past their retention. The zone defaults are the bucket's lifecycle
rules (deploy/template.py), so this applies only the overrides (`pipeline/governance/retention.py`).

It runs in the compactor's function (reserved concurrency 1), the single writer of `curated/` on S3:
pipeline/lambdas/compactor.py hands it here. The day comes from the schedule's `time`, as for the
rollups.
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import date
from typing import Any

from pipeline.governance.registry import OrganizationRegistry
from pipeline.governance.retention import apply_retention
from pipeline.lambdas._environment import data_store
from pipeline.lambdas.rollups import scheduled_day
from pipeline.store.base import Store

log = logging.getLogger(__name__)


def process(store: Store, today: date, *, actor: str) -> dict[str, Any]:
    report = apply_retention(store, OrganizationRegistry(store, cache_seconds=0), today=today,
                             defaults=False, actor=actor)
    result = {
        "today": today.isoformat(),
        "objects_deleted": report.objects_deleted,
        "days_deleted": {zone: {org: len(days) for org, days in orgs.items()}
                         for zone, orgs in report.days_deleted.items()},
    }
    log.info("retention: %s", json.dumps(result))
    return result


@functools.cache
def store() -> Store:
    return data_store()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process(store(), scheduled_day(event),
                   actor=f"lambda:{getattr(context, 'function_name', 'retention')}")
