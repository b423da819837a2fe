"""The writer Lambda: an SQS event-source batch becomes raw objects (pipeline/raw/writer.py).

The AWS Powertools batch shape, with the records written together so a batch of up to 1000 events
costs one PUT per organization and hour: each record is parsed on its own, and the handler returns
`{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}` for the records not written. Lambda
deletes the others. A failed record returns to the queue after the visibility timeout: a store
failure is retried, and a poison record, failing on every receive, is moved to the dead-letter queue
by the queue's redrive policy once it has been received maxReceiveCount times.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from pipeline.lambdas._environment import data_store
from pipeline.lambdas.sqs import SqsEvent, failures
from pipeline.raw.writer import write_messages
from pipeline.store.base import Store

log = logging.getLogger(__name__)


def process(event: Mapping[str, Any], store: Store) -> dict[str, list[dict[str, str]]]:
    """Write a batch's records; the response names those not written."""
    messages = [record.message() for record in SqsEvent.model_validate(event).records]
    outcome = write_messages(store, messages)
    log.info("writer: %d records, %d events in %d objects, %d failed, %d poison", len(messages),
             outcome.lines, len(outcome.keys), len(outcome.failed), len(outcome.poison))
    return failures(message.receipt for message in (*outcome.failed, *outcome.poison))


@functools.cache
def store() -> Store:
    return data_store()


def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    return process(event, store())
