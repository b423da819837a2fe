"""Property-based tests of the canonical schema (hypothesis): what parse_event can be handed, and
what a valid event becomes once stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.curated.schema import PAYLOAD_COLUMNS
from pipeline.raw import rawfile
from pipeline.raw.reader import read_raw
from tests.translator._event_strategies import JSON, near_misses, stored_time, valid_events
from translator.canonical import NAME_FIELDS, NAME_MAX_CHARS, Envelope, format_timestamp
from translator.event_parser import EventError, parse_event

ORG = "acme"
RECEIVED_AT = datetime(2026, 11, 25, 10, 0, 0, 123000, tzinfo=UTC)
_LONG = st.text(min_size=2000, max_size=2000) | st.lists(st.integers(), min_size=500, max_size=500)
_KEYS = st.sampled_from(["schema_version", "event_type", "event_id", "payload", "occurred_at"])
_ANY = (JSON | near_misses() | st.dictionaries(_KEYS, JSON | _LONG)
        | st.fixed_dictionaries({"schema_version": st.just("1"), "event_type": _LONG}))


@settings(max_examples=300, deadline=None)
@given(value=_ANY)
def test_any_json_value_is_an_event_or_an_event_error(value: Any) -> None:
    try:
        event = parse_event(value)
    except EventError as error:
        # The gateway sends it as is: a stable code, and JSON it can always encode, bounded.
        assert error.code and error.message
        assert len(json.dumps(error.as_json()).encode()) < 2048
        return
    assert isinstance(event, Envelope)


def _stored(event: Envelope) -> bytes:
    """The stored form: the server's fields set, serialised as the pipeline writes it."""
    return event.model_copy(update={"organization_id": ORG, "project_id": "p1",
                                    "received_at": RECEIVED_AT}).model_dump_json().encode()


@settings(max_examples=300, deadline=None)
@given(sent=valid_events())
def test_valid_events_round_trip_through_the_stored_form(sent: dict[str, Any]) -> None:
    event = parse_event(sent)
    stored = _stored(event)
    again = parse_event(json.loads(stored))
    assert _stored(again) == stored  # the stored form is a fixed point: nothing drifts on re-reading
    assert str(again.event_id) == str(event.event_id) and again.event_type == sent["event_type"]
    assert format_timestamp(again.occurred_at) == format_timestamp(stored_time(sent["occurred_at"]))
    payload = sent.get("payload", {})
    for name, value in payload.items():
        kept = getattr(again.payload, name)
        assert kept == (value[:NAME_MAX_CHARS] if name in NAME_FIELDS else value)
    assert "unknown_field" not in json.loads(stored)

    # And the compactor reads it into the same curated row, without quarantining anything.
    read = read_raw([("raw/org=acme/object.ndjson.gz", rawfile.encode([stored]))], ORG)
    assert read.corrupt == {}
    (row,) = read.table.to_pylist()
    assert row["event_id"] == str(event.event_id) and row["event_type"] == sent["event_type"]
    assert row["occurred_at"] == stored_time(sent["occurred_at"])
    for name in PAYLOAD_COLUMNS:  # the type's own payload fields; null in every other column
        expected = payload.get(name)
        if name in NAME_FIELDS and expected is not None:
            expected = expected[:NAME_MAX_CHARS]
        assert row[name] == expected, name
