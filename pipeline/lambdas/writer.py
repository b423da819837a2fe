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

from pydantic import BaseModel, Field

from pipeline.lambdas._environment import data_store
from pipeline.queue.base import Message
from pipeline.raw.writer import write_messages
from pipeline.store.base import Store

log = logging.getLogger(__name__)


class SqsAttributes(BaseModel):
    receive_count: int = Field(alias="ApproximateReceiveCount")


class SqsRecord(BaseModel):
    message_id: str = Field(alias="messageId")
    body: str
    attributes: SqsAttributes

    def message(self) -> Message:
        # The message id is what batchItemFailures names; Lambda, not the handler, deletes receipts.
        return Message(body=self.body.encode(), receipt=self.message_id,
                       receive_count=self.attributes.receive_count)


class SqsEvent(BaseModel):
    records: list[SqsRecord] = Field(alias="Records")


def process(event: Mapping[str, Any], store: Store) -> dict[str, list[dict[str, str]]]:
    """Write a batch's records; the response names those not written."""
    messages = [record.message() for record in SqsEvent.model_validate(event).records]
    outcome = write_messages(store, messages)
    log.info("writer: %d records, %d events in %d objects, %d failed, %d poison", len(messages),
             outcome.lines, len(outcome.keys), len(outcome.failed), len(outcome.poison))
    return {"batchItemFailures": [{"itemIdentifier": message.receipt}
                                  for message in (*outcome.failed, *outcome.poison)]}


@functools.cache
def store() -> Store:
    return data_store()


def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    return process(event, store())
