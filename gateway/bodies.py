"""Request and response bodies of the HTTP API as pydantic models, the source of the OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from translator.canonical import CanonicalEvent

MAX_BATCH_EVENTS = 500


class _Body(BaseModel):
    # Built when first used (the OpenAPI document, the ingest route's batch validator), not at import:
    # the ingest Lambda's cold import (bench/coldstart.py).
    model_config = ConfigDict(defer_build=True)


class ErrorDetail(_Body):
    code: str = Field(description="Stable, machine-readable reason, e.g. token_expired or consent_required.")
    message: str = Field(description="A sentence for the developer reading the logs.")
    field: str | None = Field(None, description="Dotted path of the offending field, when there is one.")


class ErrorBody(_Body):
    error: ErrorDetail


class Batch(_Body):
    """Several events in one request: each is accepted or rejected on its own."""

    events: list[CanonicalEvent] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class Rejection(_Body):
    index: int = Field(description="Position of the event in the request (0 for a single event).")
    event_id: str | None = Field(description="The event's event_id as sent, when it had one.")
    error: ErrorDetail


class IngestResult(_Body):
    accepted: int = Field(description="Events durably enqueued by this request.")
    duplicates: int = Field(description="Events whose event_id was already enqueued recently or earlier "
                                        "in this batch; they are not enqueued again.")
    rejected: list[Rejection]
