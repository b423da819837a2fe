"""The canonical v1 schema: every event type valid and invalid, version routing, normalisation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.translator._payloads import PAYLOADS
from translator.canonical import EVENT_TYPES, NAME_FIELDS, NAME_MAX_CHARS
from translator.event_parser import EventError, parse_event

# A payload each event type must refuse (None: the type has no required payload field).
INVALID_PAYLOADS: dict[str, dict[str, Any] | None] = {
    "session.started": None,
    "video.played": {"position_ms": -1},
    "video.paused": {},
    "video.progressed": {"position_ms": 1, "percent": 101},
    "video.completed": {"duration_ms": "long", "percent": 100},
    "video.incomplete": {"duration_ms": 1, "percent": -0.1},
    "video.errored": {"error_message": "no code"},
    "cta.clicked": {"cta_name": "no id"},
    "interaction.engaged": {"interaction_id": ""},
    "chapter.entered": {"chapter_id": "x" * 129},
    "chapter.exited": {"position_ms": 1},
    "consent.accepted": None,
    "consent.declined": None,
    "autoplay.failed": None,
}


def event(event_type: str, **overrides: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "schema_version": "1",
        "event_type": event_type,
        "occurred_at": "2026-11-25T10:00:00.123Z",
        "session_id": str(uuid.uuid4()),
        "consent": {"tracking": True, "granted_at": "2026-11-25T09:59:59.000Z"},
        "payload": PAYLOADS[event_type],
        **overrides,
    }


def reject(data: Any) -> EventError:
    with pytest.raises(EventError) as caught:
        parse_event(data)
    return caught.value


def test_tables_cover_every_event_type_of_section_5() -> None:
    assert len(EVENT_TYPES) == 14
    assert set(PAYLOADS) == set(EVENT_TYPES) == set(INVALID_PAYLOADS)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_validates_and_round_trips(event_type: str) -> None:
    data = event(event_type)
    parsed = parse_event(data)
    assert parsed.event_type == event_type  # type: ignore[attr-defined]
    dumped = parsed.model_dump(mode="json")
    assert dumped["payload"] == {**dumped["payload"], **PAYLOADS[event_type]}
    assert parse_event(dumped) == parsed


@pytest.mark.parametrize("event_type", [t for t, p in INVALID_PAYLOADS.items() if p is not None])
def test_every_event_type_rejects_a_bad_payload(event_type: str) -> None:
    error = reject(event(event_type, payload=INVALID_PAYLOADS[event_type]))
    assert error.code == "invalid_field"
    assert error.field is not None and error.field.startswith("payload")


def test_unknown_event_type_names_the_allowed_ones() -> None:
    error = reject({**event("session.started"), "event_type": "video.rewound"})
    assert error.code == "unknown_event_type"
    assert all(name in error.message for name in EVENT_TYPES)


@pytest.mark.parametrize(("version", "code"), [(None, "missing_schema_version"),
                                               ("2", "unsupported_schema_version"),
                                               ([], "unsupported_schema_version")])
def test_schema_version_routing(version: Any, code: str) -> None:
    data = event("session.started")
    if version is None:
        del data["schema_version"]
    else:
        data["schema_version"] = version
    assert reject(data).code == code


def test_integer_schema_version_is_accepted_as_its_string() -> None:
    assert parse_event(event("session.started", schema_version=1)).schema_version == "1"


@pytest.mark.parametrize("field", ["event_id", "session_id"])
def test_ids_must_be_uuids(field: str) -> None:
    assert reject(event("session.started", **{field: "not-a-uuid"})).field == field


@pytest.mark.parametrize("value", ["2026-11-25T10:00:00", "2026-11-25 10:00:00Z", "yesterday", 1764064800,
                                   "2026-13-25T10:00:00.000Z", "2026-11-25T10:00Z", "2026-11-25T10:00:00.Z",
                                   "2026-11-25T10:00:00.1234567890Z", "2026-11-25T10:00:00.000"])
def test_occurred_at_needs_rfc_3339_with_an_offset(value: Any) -> None:
    assert reject(event("session.started", occurred_at=value)).field == "occurred_at"


@pytest.mark.parametrize(("value", "stored"), [
    ("2026-11-25T10:00:00Z", "2026-11-25T10:00:00.000Z"),  # datetime.isoformat() of a whole second
    ("2026-11-25T10:00:00+00:00", "2026-11-25T10:00:00.000Z"),
    ("2026-11-25T10:00:00.5-03:00", "2026-11-25T13:00:00.500Z"),
    ("2026-11-25T10:00:00.123456+00:00", "2026-11-25T10:00:00.123Z")])
def test_a_fraction_of_a_second_is_optional(value: str, stored: str) -> None:
    parsed = parse_event(event("session.started", occurred_at=value))
    assert parsed.model_dump(mode="json")["occurred_at"] == stored


def test_timestamps_normalise_to_utc_milliseconds() -> None:
    parsed = parse_event(event("session.started", occurred_at="2026-11-25T10:00:00.123456789-03:00",
                               sent_at="2026-11-25T16:00:01.250+0300"))
    dumped = parsed.model_dump(mode="json")
    assert dumped["occurred_at"] == "2026-11-25T13:00:00.123Z"
    assert dumped["sent_at"] == "2026-11-25T13:00:01.250Z"


@pytest.mark.parametrize("value", ["ABC", "a" * 63, "g" * 64, "A" * 64])
def test_viewer_hash_is_64_lowercase_hex(value: str) -> None:
    assert reject(event("session.started", viewer_hash=value)).field == "viewer_hash"


@pytest.mark.parametrize(("given", "stored"), [("es-cl", "es-CL"), ("EN", "en"), ("pt_br", "pt-BR"),
                                               ("zh-hant-tw", "zh-Hant-TW"), ("es-419", "es-419")])
def test_locale_is_normalised(given: str, stored: str) -> None:
    assert parse_event(event("session.started", locale=given)).locale == stored


@pytest.mark.parametrize("value", ["spanish", "e", "es-", "12-CL"])
def test_bad_locale_is_rejected(value: str) -> None:
    assert reject(event("session.started", locale=value)).field == "locale"


def test_name_fields_are_truncated_not_rejected() -> None:
    long = "ñ" * 100
    payloads = {
        "cta.clicked": {"cta_id": "c", "cta_name": long, "cta_value": long},
        "interaction.engaged": {"interaction_id": "i", "interaction_name": long, "interaction_value": long},
        "chapter.entered": {"chapter_id": "c", "chapter_name": long},
        "video.errored": {"error_code": "E", "error_message": long},
        "autoplay.failed": {"reason": long},
    }
    seen = set()
    for event_type, payload in payloads.items():
        stored = parse_event(event(event_type, payload=payload)).model_dump()["payload"]
        for name in NAME_FIELDS:
            if name in payload:
                assert stored[name] == "ñ" * NAME_MAX_CHARS
                seen.add(name)
    assert seen == set(NAME_FIELDS)


def test_unknown_fields_are_dropped_not_stored() -> None:
    parsed = parse_event(event("session.started", recipient_code="12.345.678-9", ip="203.0.113.9"))
    dumped = parsed.model_dump_json()
    assert "12.345.678-9" not in dumped and "203.0.113.9" not in dumped


def test_non_object_events_are_rejected() -> None:
    assert reject([1, 2]).code == "invalid_event"
    assert reject("session.started").code == "invalid_event"


def test_bad_country_and_consent_are_rejected() -> None:
    assert reject(event("session.started", geo={"country": "Chile"})).field == "geo.country"
    assert reject(event("session.started", consent={"granted_at": "2026-11-25T10:00:00.000Z"})).field == \
        "consent.tracking"


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, None])
def test_consent_tracking_is_a_json_boolean_or_nothing(value: Any) -> None:
    # Anything but true/false could slip past the consent gate as "truthy".
    assert reject(event("video.played", consent={"tracking": value})).field == "consent.tracking"


@pytest.mark.parametrize(("payload", "field"), [
    ({"position_ms": True}, "payload.position_ms"),
    ({"position_ms": "1500"}, "payload.position_ms"),
    ({"position_ms": 1500.5}, "payload.position_ms"),
])
def test_numeric_fields_take_json_numbers_only(payload: dict[str, Any], field: str) -> None:
    assert reject(event("video.played", payload=payload)).field == field


@pytest.mark.parametrize("percent", ["50", True])
def test_percent_takes_json_numbers_only(percent: Any) -> None:
    body = event("video.progressed", payload={"position_ms": 1, "percent": percent})
    assert reject(body).field == "payload.percent"


def test_an_integral_float_is_an_integer() -> None:
    # Some JSON encoders write 1500 as 1500.0; that is still a whole number of milliseconds.
    assert parse_event(event("video.played", payload={"position_ms": 1500.0})).payload.position_ms == 1500
    assert parse_event(event("video.played", playback_id=2.0)).playback_id == 2
