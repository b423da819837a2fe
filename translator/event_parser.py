"""Route a decoded event to the parser of its `schema_version`, with errors a client can act on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from translator.canonical import (
    EARLIEST_TIME,
    EVENT_TYPES,
    MAX_AHEAD,
    TIME_OUT_OF_RANGE,
    CanonicalEvent,
    Envelope,
)
from translator.refusal import ItemError


class EventError(ItemError):
    """Why one event was rejected."""


_SHOWN_CHARS = 40


@cache
def v1_adapter() -> TypeAdapter[Envelope]:
    """The validator of canonical v1 events, built on its first use (some 40 ms: the 14 event models'
    schemas), not at import: the ingest Lambda's first request builds only the validators it needs.
    The ingest route validates single events straight from bytes with this one too."""
    adapter: TypeAdapter[Envelope] = TypeAdapter(CanonicalEvent)
    return adapter


def _shown(value: Any) -> str:
    """A client's value quoted in an error message: bounded (a 500-event batch of 1 KB event types
    would otherwise be answered with more than the 512 KB it sent)."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"


def _parse_v1(data: dict[str, Any]) -> Envelope:
    event_type = data.get("event_type")
    if event_type not in EVENT_TYPES:
        raise EventError(
            "unknown_event_type",
            f"event_type {_shown(event_type)} is not one of: {', '.join(EVENT_TYPES)}",
            "event_type",
        )
    try:
        return v1_adapter().validate_python(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        # Drop the union tag pydantic puts first in the location: the client never wrote it.
        loc = [str(part) for part in first["loc"] if part != event_type]
        field = ".".join(loc) or None
        message = first["msg"] if not field else f"{field}: {first['msg']}"
        code = TIME_OUT_OF_RANGE if first["type"] == TIME_OUT_OF_RANGE else "invalid_field"
        raise EventError(code, message, field) from None


PARSERS: dict[str, Callable[[dict[str, Any]], Envelope]] = {"1": _parse_v1}


def parse_event(data: Any) -> Envelope:
    """Validate one decoded JSON value as a canonical event, or raise EventError."""
    if not isinstance(data, dict):
        raise EventError("invalid_event", "an event must be a JSON object")
    version = data.get("schema_version")
    if version is None:
        raise EventError("missing_schema_version", "schema_version is required", "schema_version")
    parser = PARSERS.get(str(version)) if isinstance(version, str | int) else None
    if parser is None:
        raise EventError(
            "unsupported_schema_version",
            f"schema_version {_shown(version)} is not supported; supported: {', '.join(PARSERS)}",
            "schema_version",
        )
    return parser({**data, "schema_version": str(version)})


def check_event_time(event: Envelope, received_at: datetime) -> None:
    """Refuse an event whose time, corrected for the client's clock skew (`received_at - sent_at`), lies
    more than MAX_AHEAD after `received_at` or before EARLIEST_TIME: no clock explains it, and stored,
    it would sit in a day no report ever reads."""
    check_times(event.occurred_at, event.sent_at, received_at)


def check_times(occurred: datetime, sent: datetime | None, received_at: datetime) -> None:
    """check_event_time of an event's occurred_at and sent_at."""
    ahead = occurred - (sent if sent is not None else received_at)
    if ahead > MAX_AHEAD:
        since = "sent_at" if sent is not None else "the time the server received it"
        raise EventError(TIME_OUT_OF_RANGE, f"occurred_at: lies {_hours(ahead)} after {since}; at most "
                         f"{_hours(MAX_AHEAD)} of clock skew is corrected", "occurred_at")
    if sent is not None and ahead < EARLIEST_TIME - received_at:  # received_at + ahead could overflow
        raise EventError(TIME_OUT_OF_RANGE, "sent_at: corrects occurred_at to a time before "
                         "2000-01-01T00:00:00.000Z", "sent_at")


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:.1f} h"
