"""The platform events Lambda: an SQS batch of integration events, sent to the queue by an
EventBridge rule on the platform's bus, through the one handler (pipeline/platform/handler.py).

A record is an EventBridge event (its `detail-type` is the type, its `detail` the event's fields) or a
bare integration event. A record that is no integration event is reported as failed: it returns after
the visibility timeout and, failing on every receive, goes to the dead-letter queue. A store failure
reports the whole batch. Reserved concurrency 1 keeps this function the only writer of the dimensions
on S3 (deploy/template.yaml).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pipeline.governance.registry import OrganizationRegistry
from pipeline.lambdas._environment import data_store
from pipeline.lambdas.sqs import SqsEvent, failures
from pipeline.platform.handler import ACTOR, handle

log = logging.getLogger(__name__)


def integration_event(body: str) -> Any:
    """The integration event a record carries (ValueError: not JSON)."""
    data = json.loads(body)
    if isinstance(data, dict) and isinstance(data.get("detail"), dict) and "detail-type" in data:
        return {"type": data["detail-type"], **data["detail"]}
    return data


def process(event: Mapping[str, Any], registry: OrganizationRegistry) -> dict[str, list[dict[str, str]]]:
    records = SqsEvent.model_validate(event).records
    parsed: list[tuple[str, Any]] = []
    failed: list[str] = []
    for record in records:
        try:
            parsed.append((record.message_id, integration_event(record.body)))
        except ValueError:
            failed.append(record.message_id)
    try:
        outcome = handle(registry, [item for _, item in parsed], datetime.now(UTC))
    except Exception:  # the store: every record is retried
        log.exception("platform events: the batch could not be stored")
        return failures(record.message_id for record in records)
    failed += [parsed[refused["index"]][0] for refused in outcome.rejected]
    log.info("platform events: %d records, %d accepted, %d duplicates, %d ignored, %d failed", len(records),
             outcome.accepted, outcome.duplicates, outcome.ignored, len(failed))
    return failures(failed)


@functools.cache
def registry() -> OrganizationRegistry:
    return OrganizationRegistry(data_store(), actor=ACTOR)


def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    return process(event, registry())
