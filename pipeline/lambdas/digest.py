"""The digest Lambda: weekly (EventBridge, Monday 07:00 UTC), sends last week's PDF digest to every
opted-in organization that has not had it (`pipeline/reporting/digest.py`), through SES.

The week comes from the schedule's `time`, not the clock, so a delayed or retried invocation sends
the week it was scheduled for; `{"week": "2026-W48"}` runs an earlier week by hand. A week already
sent to an organization is skipped (the store's state says so), so a retry resends nothing. If an
organization's digest failed, the invocation fails after trying the others, and Lambda's retries
of the asynchronous invocation try it again.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pipeline.backends import open_mailer
from pipeline.config import Settings
from pipeline.lambdas._environment import data_settings, data_store
from pipeline.mail.base import Mailer
from pipeline.query import QueryEngine, open_engine
from pipeline.reporting.digest import Week, send_due
from pipeline.store.base import Store

log = logging.getLogger(__name__)


class DigestsFailed(RuntimeError):
    """Some organizations' digests were not sent; the others were (and are not sent again)."""


def scheduled_week(event: Mapping[str, Any]) -> Week:
    """`week` of a manual run, else the last week over at the EventBridge event's `time`."""
    if "week" in event:
        return Week.parse(str(event["week"]))
    at = datetime.fromisoformat(event["time"]) if "time" in event else datetime.now(UTC)
    return Week.last_complete(at)


def process(store: Store, engine: QueryEngine, mailer: Mailer, week: Week, *, actor: str) -> dict[str, Any]:
    result = send_due(store, engine, mailer, week, actor=actor).summary()
    log.log(logging.WARNING if result["failed"] else logging.INFO, "digest: %s", json.dumps(result))
    if result["failed"]:
        raise DigestsFailed(f"digests of {sorted(result['failed'])} for {week} not sent")
    return result


@functools.cache
def settings() -> Settings:
    return data_settings()


@functools.cache
def store() -> Store:
    return data_store()


@functools.cache
def engine() -> QueryEngine:
    return open_engine(settings(), store())


@functools.cache
def mailer() -> Mailer:
    return open_mailer(settings())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process(store(), engine(), mailer(), scheduled_week(event),
                   actor=f"lambda:{getattr(context, 'function_name', 'digest')}")
