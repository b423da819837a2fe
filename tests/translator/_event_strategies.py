"""hypothesis strategies over the canonical schema: valid events of every type, and near misses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from translator.canonical import EVENT_TYPES, ID_MAX_CHARS

# Any JSON value, as a decoder hands it over (no lone surrogates: they are not JSON text).
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)

_MILLIS = st.integers(min_value=0, max_value=2**53)
_PERCENT = st.floats(min_value=0, max_value=100, allow_nan=False) | st.integers(min_value=0, max_value=100)
_NAME = st.text(max_size=200)  # truncated to 64 characters, never refused
_IDENTIFIER = st.text(min_size=1, max_size=ID_MAX_CHARS)
# Inside the window of event times: from 2000, and before any time these tests receive an event at.
_TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 11, 1))
# sent_at after occurred_at by up to a month (an offline queue), or before it by a little (skew).
_SENT_AFTER = st.timedeltas(min_value=timedelta(hours=-1), max_value=timedelta(days=30))


@st.composite
def timestamps(draw: st.DrawFn, moment: datetime | None = None) -> str:
    """RFC 3339 with an offset, with no fraction of a second or up to nanoseconds: every form the
    schema accepts."""
    moment = moment or draw(_TIMES)
    offset = draw(st.sampled_from([0, 0, 60, -180, 330, 14 * 60]))
    local = moment.replace(tzinfo=UTC).astimezone(timezone(timedelta(minutes=offset)))
    digits = draw(st.sampled_from([0, 1, 3, 3, 6, 9]))
    fraction = f"{local.microsecond:06d}{draw(st.integers(0, 999)):03d}"[:digits]
    zone = "Z" if offset == 0 and draw(st.booleans()) else local.strftime("%z")
    if zone != "Z" and draw(st.booleans()):
        zone = f"{zone[:3]}:{zone[3:]}"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + zone


_PAYLOADS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "session.started": st.just({}),
    "video.played": st.fixed_dictionaries({"position_ms": _MILLIS}),
    "video.paused": st.fixed_dictionaries({"position_ms": _MILLIS}),
    "video.progressed": st.fixed_dictionaries({"position_ms": _MILLIS, "percent": _PERCENT}),
    "video.completed": st.fixed_dictionaries({"duration_ms": _MILLIS, "percent": _PERCENT}),
    "video.incomplete": st.fixed_dictionaries({"duration_ms": _MILLIS, "percent": _PERCENT}),
    "video.errored": st.fixed_dictionaries({"error_code": _IDENTIFIER}, optional={"error_message": _NAME}),
    "cta.clicked": st.fixed_dictionaries({"cta_id": _IDENTIFIER}, optional={
        "cta_name": _NAME, "cta_value": _NAME, "position_ms": _MILLIS}),
    "interaction.engaged": st.fixed_dictionaries({"interaction_id": _IDENTIFIER}, optional={
        "interaction_name": _NAME, "interaction_value": _NAME, "position_ms": _MILLIS}),
    "chapter.entered": st.fixed_dictionaries({"chapter_id": _IDENTIFIER}, optional={
        "chapter_name": _NAME, "position_ms": _MILLIS}),
    "chapter.exited": st.fixed_dictionaries({"chapter_id": _IDENTIFIER}, optional={"position_ms": _MILLIS}),
    "consent.accepted": st.just({}),
    "consent.declined": st.just({}),
    "autoplay.failed": st.fixed_dictionaries({}, optional={"reason": _NAME}),
}
assert set(_PAYLOADS) == set(EVENT_TYPES)


def _uuid_text(value: uuid.UUID, style: int) -> str:
    return (str(value), str(value).upper(), value.hex)[style]


@st.composite
def valid_events(draw: st.DrawFn, *, consent: bool | None = None) -> dict[str, Any]:
    """A valid canonical event as a client sends it; `consent` True forces tracking consent."""
    event_type = draw(st.sampled_from(EVENT_TYPES))
    body: dict[str, Any] = {
        "event_id": _uuid_text(draw(st.uuids()), draw(st.integers(0, 2))),
        "schema_version": draw(st.sampled_from(["1", 1])),
        "event_type": event_type,
        "occurred_at": draw(timestamps(occurred := draw(_TIMES))),
        "session_id": str(draw(st.uuids())),
        "payload": draw(_PAYLOADS[event_type]),
    }
    optional = draw(st.fixed_dictionaries({}, optional={
        "sent_at": _SENT_AFTER.flatmap(lambda after: timestamps(occurred + after)),
        "template_id": _IDENTIFIER,
        "template_version": _IDENTIFIER,
        "viewer_hash": st.text("0123456789abcdef", min_size=64, max_size=64),
        "playback_id": st.integers(0, 1_000_000),
        "locale": st.sampled_from(["es-CL", "en", "pt_br", "zh-hant-tw", "EN-us"]),
        "unknown_field": JSON,  # dropped, never stored
    }))
    body.update(optional)
    tracking = consent if consent is not None else draw(st.booleans() | st.none())
    if tracking is not None:
        body["consent"] = {"tracking": tracking}
        if draw(st.booleans()):
            body["consent"]["granted_at"] = draw(timestamps())
    if event_type in ("session.started", "consent.accepted", "consent.declined") and not body["payload"] \
            and draw(st.booleans()):
        del body["payload"]  # a payload-less type may leave it out
    return body


@st.composite
def with_lone_surrogates(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with a lone surrogate in a text field: JSON can spell one (json.dumps writes
    it as an escape), though no UTF-8 text can hold it."""
    body = draw(valid_events(consent=True))
    text = draw(st.text(st.characters(categories=["Cs", "Ll"]), min_size=1, max_size=5)
                .filter(lambda t: any(0xD800 <= ord(c) <= 0xDFFF for c in t)))
    field = draw(st.sampled_from(["template_id", "name"]))
    if field == "name":
        body["event_type"], body["payload"] = "cta.clicked", {"cta_id": "c1", "cta_name": text}
    else:
        body[field] = text
    return body


@st.composite
def near_misses(draw: st.DrawFn) -> Any:
    """A valid event with one part replaced by any JSON value, or removed."""
    body = draw(valid_events())
    paths = [(name,) for name in body] + [("payload", name) for name in body.get("payload", {})]
    path = draw(st.sampled_from(paths))
    target = body if len(path) == 1 else body["payload"]
    if draw(st.booleans()):
        del target[path[-1]]
    else:
        target[path[-1]] = draw(JSON)
    return body


def stored_time(text: str) -> datetime:
    """What a Timestamp keeps of a time: UTC, milliseconds."""
    head, dot, rest = text.replace("Z", "+00:00").partition(".")
    if not dot:
        return datetime.fromisoformat(head).astimezone(UTC)
    digits = len(rest) - len(rest.lstrip("0123456789"))
    parsed = datetime.fromisoformat(f"{head}.{rest[:digits][:3].ljust(3, '0')}{rest[digits:]}")
    return parsed.astimezone(UTC)

