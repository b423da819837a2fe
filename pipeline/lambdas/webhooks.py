"""The webhooks Lambda: every 5 minutes (EventBridge), sends organizations' webhook endpoints the
events the compactor has committed (pipeline/webhooks/), and retries those whose retry is due.

The deployment runs it with reserved concurrency 1: on S3 the webhook state has no lock, and two runs
at once could both take the same new events. A run stops starting requests when little of the
function's time is left (a request may take the policy's timeout); the next run carries on. Retry
delays shorter than the schedule are rounded up to it.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

from pipeline.governance.registry import OrganizationRegistry
from pipeline.lambdas._environment import data_store
from pipeline.store.base import Store
from pipeline.webhooks.policy import WebhookPolicy
from pipeline.webhooks.reports import WebhookReport
from pipeline.webhooks.run import run

log = logging.getLogger(__name__)

MARGIN_SECONDS = 15.0  # beside one request's timeout, left for writing state when the budget is spent


def summary(report: WebhookReport) -> dict[str, Any]:
    return {
        "organizations": len(report.organizations),
        **{name: report.total(name) for name in ("events_collected", "batches_delivered", "events_delivered",
                                                 "failed_attempts", "pending")},
        "dead_lettered": {org: item.dead_lettered for org, item in report.organizations.items()
                          if item.dead_lettered},
        "errors": {org: item.error for org, item in report.organizations.items() if item.error},
    }


def process(store: Store, *, budget: float | None = None,
            policy: WebhookPolicy | None = None) -> dict[str, Any]:
    report = run(store, OrganizationRegistry(store, cache_seconds=0),
                 policy=policy or WebhookPolicy.from_env(), budget=budget, actor="lambda:webhooks")
    result = summary(report)
    log.log(logging.WARNING if result["dead_lettered"] or result["errors"] else logging.INFO,
            "webhooks: %s", json.dumps(result))
    return result


@functools.cache
def store() -> Store:
    return data_store()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    policy = WebhookPolicy.from_env()
    budget = None
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        budget = max(0.0, context.get_remaining_time_in_millis() / 1000 - policy.timeout - MARGIN_SECONDS)
    return process(store(), budget=budget, policy=policy)
