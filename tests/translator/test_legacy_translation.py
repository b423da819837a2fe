"""Legacy indiTrack posts → canonical events: recorded fixtures, errors, ids, and any JSON at all."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._fixtures import fixture_names, load_fixture
from translator.canonical import NAME_MAX_CHARS
from translator.event_parser import EventError, parse_event
from translator.individeo_wire import CONTEXT_FIELDS, WIRE_EVENT_NAMES, WIRE_EVENTS, wire_event
from translator.legacy import LegacyError, LegacyResult, read_post, translate

ORG = "afp-habitat"
AT = datetime(2026, 11, 25, 14, 4, 12, 250000, tzinfo=UTC)
CASES = fixture_names("individeo/indiTrack")
# The documented derivations, written out again independently of translator/legacy.py.
SESSION_NS = uuid.UUID("26f67c20-60c6-57a4-bfb9-246f460742eb")
EVENT_NS = uuid.UUID("212c439e-91de-5275-a320-b64a017e1f59")


def run(evt: str | None, body: Any, org: str = ORG, at: datetime = AT, **kwargs: Any) -> LegacyResult:
    return translate(read_post(evt, body), organization_id=org, received_at=at, **kwargs)


def cta(**fields: Any) -> dict[str, Any]:
    return {"trackerKey": "tk-1", "trackerGroupKey": "tgk-1", "ctaName": "contactaUnEjecutivoBtn", **fields}


def dumped(result: LegacyResult) -> list[dict[str, Any]]:
    return [event.model_dump(mode="json", exclude_none=True) for event in result.events]


def refused(evt: str | None, body: Any) -> LegacyError:
    with pytest.raises(LegacyError) as caught:
        run(evt, body)
    return caught.value


def test_there_is_one_fixture_per_whitelisted_wire_event() -> None:
    names = {name.rsplit("/", 1)[1].removesuffix(".json") for name in CASES}
    assert names == set(WIRE_EVENT_NAMES) == set(load_fixture("individeo/inventory.json")["wire_events"])


@pytest.mark.parametrize("name", CASES)
def test_fixture_translates_to_its_expected_canonical_events(name: str) -> None:
    case = load_fixture(name)
    expected = case["expected"]
    result = run(case["query"].get("evt"), case["body"], org=case["organization_id"],
                 at=datetime.fromisoformat(case["received_at"]))
    assert (result.evt, result.audited, list(result.warnings)) == (
        expected["evt"], expected["audited"], expected["warnings"])
    assert dumped(result) == expected["events"]
    for event in expected["events"]:  # the expected JSON is itself a valid canonical event
        assert parse_event(event).model_dump(mode="json", exclude_none=True) == event
        assert event["organization_id"] == case["organization_id"]
        assert event["session_id"] == str(uuid.uuid5(
            SESSION_NS, f"{case['organization_id']}\n{case['body']['trackerKey']}"))
    wire = wire_event(expected["evt"])
    assert wire is not None
    assert [e["event_type"] for e in expected["events"]] == ([wire.event_type] if wire.event_type else [])


@pytest.mark.parametrize("name", CASES)
def test_nothing_outside_the_whitelist_survives(name: str) -> None:
    case = load_fixture(name)
    wire = wire_event(case["expected"]["evt"])
    assert wire is not None
    read = {c.legacy for c in CONTEXT_FIELDS} | {legacy for legacy, _ in wire.fields}
    stored = json.dumps(dumped(run(case["query"].get("evt"), case["body"], org=case["organization_id"],
                                   at=datetime.fromisoformat(case["received_at"]))), ensure_ascii=False)
    for key, value in case["body"].items():
        if key not in read and isinstance(value, str):
            assert value not in stored, key


def test_event_id_follows_the_documented_derivation() -> None:
    case = load_fixture("individeo/indiTrack/onCTA.json")
    event = case["expected"]["events"][0]
    at = datetime.fromisoformat(case["received_at"])
    content = {"project_id": "pension-2026", **event["payload"]}
    window = int(at.timestamp()) // 10
    name = json.dumps([case["organization_id"], case["body"]["trackerKey"], "onCTA", window, content],
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert event["event_id"] == str(uuid.uuid5(EVENT_NS, name))


def test_a_retry_deduplicates_and_a_later_identical_post_does_not() -> None:
    first = run("onCTA", cta()).events[0]
    retry = run("onCTA", cta(), at=AT + timedelta(seconds=3)).events[0]  # 14:04:15, same window
    later = run("onCTA", cta(), at=AT + timedelta(seconds=30)).events[0]
    assert retry.event_id == first.event_id
    assert later.event_id != first.event_id
    assert later.session_id == first.session_id


def test_content_and_organization_change_the_ids() -> None:
    base = run("onCTA", cta(ctaValue="a")).events[0]
    assert run("onCTA", cta(ctaValue="b")).events[0].event_id != base.event_id
    assert run("onServiceCTA", cta(ctaValue="a")).events[0].event_id != base.event_id
    other = run("onCTA", cta(ctaValue="a"), org="plan-vital").events[0]
    assert other.organization_id == "plan-vital"
    assert other.session_id != base.session_id and other.event_id != base.event_id


def test_names_and_values_are_truncated_to_64_characters_keeping_unicode() -> None:
    name, value = "Simulá tu pensión 💰 " * 5, "ñ" * 100
    payload = run("onCTA", cta(ctaName=name, ctaValue=value)).events[0].payload
    assert payload.cta_name == payload.cta_id == name.strip()[:NAME_MAX_CHARS]
    assert payload.cta_value == value[:NAME_MAX_CHARS]
    assert len(payload.cta_name) == NAME_MAX_CHARS and "💰" in payload.cta_name


def test_every_engagement_post_implies_consent_except_the_declined_audit() -> None:
    for wire in WIRE_EVENTS:
        result = run(wire.name, {**cta(), "interactionName": "i", "chapterName": "c", "eventName": "e"})
        for event in result.events:
            assert event.consent is not None
            assert event.consent.tracking is (wire.name != "onConsentDeclined")
            assert event.viewer_hash is None
        assert result.audited is (wire.event_type is None)


def test_optional_context_is_used_when_valid_and_dropped_with_a_warning_when_not() -> None:
    good = run("pageLoad", cta(projectCode="p-1", mediaId="m-1", mediaCode="v2", lang="es_cl"))
    assert good.warnings == ("1 body field(s) not in the pageLoad whitelist were dropped",)  # ctaName
    event = good.events[0]
    assert (event.project_id, event.template_id, event.template_version, event.locale) == (
        "p-1", "m-1", "v2", "es-CL")
    bad = run("pageLoad", {"trackerKey": "k", "trackerGroupKey": "g", "projectCode": "../etc",
                           "mediaId": "x" * 200, "mediaCode": {"v": 1}, "lang": "español"})
    event = bad.events[0]
    assert (event.project_id, event.template_id, event.template_version, event.locale) == (
        "legacy", None, None, None)
    assert len(bad.warnings) == 4
    assert run("pageLoad", {"trackerKey": "k", "trackerGroupKey": "g"},
               default_project_id="welcome").events[0].project_id == "welcome"


def test_body_event_alone_or_agreeing_in_any_case_names_the_event() -> None:
    assert run(None, cta(event="onCTA")).evt == "onCTA"
    assert run(" oncta ", cta(event="ONCTA")).evt == "onCTA"
    assert run("onCTA", cta(event=None)).evt == "onCTA"


@pytest.mark.parametrize(("evt", "body", "code", "field"), [
    ("onCTA", [], "invalid_body", None),
    ("onCTA", "onCTA", "invalid_body", None),
    ("onCTA", None, "invalid_body", None),
    (None, cta(), "missing_evt", "evt"),
    ("  ", cta(event=""), "missing_evt", "evt"),
    ("onPlay", cta(), "unknown_evt", "evt"),
    (None, cta(event="onPlay"), "unknown_evt", "event"),
    ("onCTA", cta(event="onConsentDeclined"), "evt_mismatch", "event"),
    ("onCTA", cta(event=7), "invalid_field", "event"),
    ("onCTA", cta(trackerGroupKey=None), "missing_field", "trackerGroupKey"),
    ("onCTA", cta(trackerGroupKey={"id": 1}), "invalid_field", "trackerGroupKey"),
    ("onCTA", cta(trackerGroupKey="k" * 129), "invalid_field", "trackerGroupKey"),
    ("onCTA", cta(trackerKey=""), "missing_field", "trackerKey"),
    ("onCTA", cta(trackerKey=["a"]), "invalid_field", "trackerKey"),
    ("onCTA", cta(ctaName="   "), "missing_field", "ctaName"),
    ("onInteraction", cta(), "missing_field", "interactionName"),
    ("onCTA", cta(ctaValue={"estimate": 412350}), "invalid_field", "ctaValue"),
    ("onCTA", cta(ctaName="bad \ud800 text"), "invalid_field", "ctaName"),
])
def test_bad_posts_are_refused_with_a_clear_error(evt: str | None, body: Any, code: str,
                                                  field: str | None) -> None:
    error = refused(evt, body)
    assert (error.code, error.field) == (code, field)
    assert isinstance(error, EventError)  # the gateway answers both with the same 400 shape
    json.dumps(error.as_json(), ensure_ascii=False).encode("utf-8")


def test_unknown_evt_lists_the_allowed_ones() -> None:
    message = refused("onPlay", cta()).message
    assert all(name in message for name in WIRE_EVENT_NAMES)


def test_audited_posts_need_no_tracker_key() -> None:
    result = run("onLog", {"trackerGroupKey": "tgk", "message": "anything"})
    assert result.audited and result.events == ()


def test_an_echoed_client_string_is_bounded_and_always_encodable() -> None:
    error = refused("\ud800" + "x" * 500, cta())
    assert len(error.message) < 400
    json.dumps(error.as_json(), ensure_ascii=False).encode("utf-8")


def test_received_at_must_carry_an_offset() -> None:
    with pytest.raises(ValueError):
        translate(read_post("onCTA", cta()), organization_id=ORG, received_at=datetime(2026, 1, 1))


# Any JSON value at all, and bodies built from the field names the translator reads.
_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats()
            | st.text(st.characters(categories=["L", "N", "P", "S", "Zs", "Cs"]), max_size=80))
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=10)
_FIELDS = sorted({c.legacy for c in CONTEXT_FIELDS}
                 | {legacy for wire in WIRE_EVENTS for legacy, _ in wire.fields})
_NAMES = st.sampled_from(WIRE_EVENT_NAMES) | st.sampled_from(WIRE_EVENT_NAMES).map(str.upper) | _SCALARS
_NEAR_VALID = st.fixed_dictionaries(
    {"trackerKey": st.text(min_size=1, max_size=20) | st.integers(), "trackerGroupKey": st.text(min_size=1)},
    optional={field: _SCALARS | _NAMES for field in _FIELDS if not field.startswith("tracker")})
_BODIES = _JSON | st.dictionaries(st.sampled_from(_FIELDS), _JSON | _NAMES, max_size=8) | _NEAR_VALID


@settings(max_examples=400, deadline=None)
@given(evt=st.none() | st.text(max_size=30) | st.sampled_from(WIRE_EVENT_NAMES), body=_BODIES,
       org=st.sampled_from(["afp-habitat", "plan-vital"]))
def test_any_post_is_translated_or_refused_never_anything_else(evt: str | None, body: Any, org: str) -> None:
    try:
        result = run(evt, body, org=org)
    except LegacyError as error:  # a 4xx whose JSON body can always be sent
        json.dumps(error.as_json(), ensure_ascii=False).encode("utf-8")
        return
    json.dumps(list(result.warnings), ensure_ascii=False).encode("utf-8")
    for event in result.events:
        assert event.organization_id == org
        assert parse_event(json.loads(event.model_dump_json())) == event


def test_a_retry_in_the_next_window_names_the_id_of_the_first_post() -> None:
    first = run("onCTA", cta(), at=AT.replace(second=19, microsecond=900_000))  # the window's end
    retry = run("onCTA", cta(), at=AT.replace(second=20, microsecond=100_000))  # the next window
    assert retry.events[0].event_id != first.events[0].event_id
    assert retry.retry_of == (first.events[0].event_id,)
