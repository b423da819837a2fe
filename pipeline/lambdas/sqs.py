"""The SQS event an event-source mapping hands a function (the AWS Powertools batch shape): its records,
and the answer naming those not processed (`batchItemFailures`), which Lambda leaves in the queue."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from pipeline.queue.base import Message


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


def failures(message_ids: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in message_ids]}
