"""One outcome as a customer sends it (`parse_outcome`), an audience member's hash (`parse_member`),
and the Parquet schemas both are stored in. A refusal is an `ItemError` naming the field; its message
never quotes a viewer hash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import pyarrow as pa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from pipeline.curated.schema import TIMESTAMP
from pipeline.governance.viewer_keys import client_hash
from translator.ids import SLUG_PATTERN
from translator.refusal import ItemError

MAX_OUTCOMES = 1_000  # per request or per CSV chunk
MAX_AUDIENCE_HASHES = 10_000  # per request
VALUE_DIGITS, VALUE_SCALE = 20, 4  # up to 16 digits before the point, 4 after (ISO 4217's most)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(minutes=5)  # a client clock running a little ahead

OUTCOME_SCHEMA = pa.schema([
    pa.field("outcome_id", pa.string()), pa.field("viewer_hash", pa.string()), pa.field("name", pa.string()),
    pa.field("value", pa.decimal128(VALUE_DIGITS, VALUE_SCALE)), pa.field("currency", pa.string()),
    pa.field("occurred_at", TIMESTAMP), pa.field("received_at", TIMESTAMP),
])
AUDIENCE_SCHEMA = pa.schema([
    pa.field("audience", pa.string()), pa.field("viewer_hash", pa.string()), pa.field("added_at", TIMESTAMP),
])


class Outcome(BaseModel):
    """A business outcome of one viewer; `viewer_hash` is the client-side form, held in memory only."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    outcome_id: UUID = Field(description="The idempotency key: a re-post of the same id is a duplicate.")
    viewer_hash: str = Field(description="SHA-256(org_id ':' recipient_code ':' org_salt) in hex, as the SDK "
                                         "computes it; keyed on arrival, never stored.")
    name: Annotated[str, Field(pattern=SLUG_PATTERN)] = Field(
        description="What happened, e.g. policy_renewed.")
    value: Decimal | None = Field(None, description="What it was worth, up to 4 decimals.")
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = Field(
        None, description="ISO 4217 code of `value`; required with it.")
    occurred_at: AwareDatetime = Field(description="When it happened (RFC 3339 with an offset).")


def parse_outcome(data: Any, *, now: datetime) -> Outcome:
    """One outcome, checked; `now` bounds occurred_at (at most 5 minutes ahead, not before 2000)."""
    if not isinstance(data, dict):
        raise ItemError("invalid_outcome", "an outcome must be a JSON object")
    try:
        outcome = Outcome.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        code = "missing_field" if first["type"] == "missing" else "invalid_field"
        raise ItemError(code, f"{field}: {first['msg']}" if field else first["msg"], field) from None
    try:
        hashed = client_hash(outcome.viewer_hash)
    except ValueError as exc:
        raise ItemError("invalid_field", f"viewer_hash: {exc}", "viewer_hash") from None
    if outcome.value is not None:
        if outcome.currency is None:
            raise ItemError("missing_field", "currency: required with value", "currency")
        before, after = _digits(outcome.value) if outcome.value.is_finite() else (VALUE_DIGITS, 0)
        if before > VALUE_DIGITS - VALUE_SCALE or after > VALUE_SCALE:
            raise ItemError("invalid_field", "value: at most 16 digits before the point and 4 after", "value")
    occurred = outcome.occurred_at.astimezone(UTC)
    if not EARLIEST <= occurred <= now + FUTURE_SLACK:
        raise ItemError("time_out_of_range", "occurred_at: must lie between 2000-01-01 and now",
                        "occurred_at")
    return outcome.model_copy(update={"viewer_hash": hashed, "occurred_at": occurred})


def parse_member(value: Any, index: int) -> str:
    """One client-side viewer hash of an audience, normalised."""
    if not isinstance(value, str):
        raise ItemError("invalid_field", "a viewer hash is a string", f"viewer_hashes.{index}")
    try:
        return client_hash(value)
    except ValueError as exc:
        raise ItemError("invalid_field", str(exc), f"viewer_hashes.{index}") from None


def _digits(value: Decimal) -> tuple[int, int]:
    """(digits before the point, digits after) of a finite decimal."""
    _, digits, exponent = value.normalize().as_tuple()
    assert isinstance(exponent, int)
    return max(0, len(digits) + exponent), max(0, -exponent)
