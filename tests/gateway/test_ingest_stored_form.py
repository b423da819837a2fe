"""The ingest route's fast path (events in their stored form, validated natively into dicts:
translator/stored_form.py) decides exactly as the models' path, for a batch and for one event: the same
bytes queued, the same ids, the same answer, the same refusals; and it takes only what the models take."""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, TypeAdapter, field_validator
from pydantic_core import ValidationError

from gateway import ingest, ingest_decision
from gateway.assemble import services_for
from gateway.errors import ApiError
from gateway.tokens import issue_token
from pipeline.config import Settings
from pipeline.governance.value_policy import VALUE_POLICIES
from pipeline.queue.local import LocalQueue
from tests.translator._event_strategies import near_misses, valid_events
from translator.canonical import LOCALE_PATTERN, _normalise_locale, format_timestamp
from translator.event_parser import EventError, parse_event
from translator.stored_form import STORED_LOCALE, STORED_TIMESTAMP, stored_batch

ORG = "acme"
RECEIVED = datetime(2026, 11, 20, 12, 30, 15, 250_000, tzinfo=UTC)  # after every strategy's occurred_at


@pytest.fixture
def route(settings: Settings, queue: LocalQueue) -> Iterator[ingest.Ingest]:
    ingest.warm_up()
    services = services_for(settings, queue)
    services.recent_ids.claim(ORG, [int(KNOWN.replace("-", ""), 16)])  # sent before: a duplicate
    yield ingest.Ingest(services)


KNOWN = "0b8a7bb6-0f2a-4c39-9a43-35b2b1b7d0f1"


def _stamp(route: ingest.Ingest, settings: Settings, policy: Any) -> ingest_decision.Stamp:
    share = route._tokens.verify(issue_token(settings.token_keys, ORG, "p1"))
    received_json = b'{"received_at":"%s"' % format_timestamp(RECEIVED).encode()
    members = ingest_decision.server_members(share, {b"user-agent": "curl/8"})
    return ingest_decision.Stamp(RECEIVED, received_json + members, policy)


@st.composite
def _events(draw: st.DrawFn) -> Any:
    """An event as a client sends it, or in its stored form (as the SDK writes it), perhaps with its
    times out of the window, its id seen before or repeated."""
    event = draw(st.one_of(valid_events(), *[valid_events(consent=True)] * 3, near_misses()))
    if draw(st.integers(0, 9)):  # the stored form of a valid event
        with suppress(EventError):
            event = parse_event(event).model_dump(mode="json")
    if isinstance(event, dict):
        change = draw(st.sampled_from(["none"] * 8 + ["ahead", "late_sent", "known", "no_sent"]))
        if change == "ahead":  # occurred two days after it was sent
            event["occurred_at"], event["sent_at"] = "2026-11-03T00:00:00.000Z", "2026-11-01T00:00:00.000Z"
        elif change == "late_sent":  # a client clock so far ahead that occurred_at falls before 2000
            event["occurred_at"], event["sent_at"] = "2001-01-01T00:00:00.000Z", "9000-01-01T00:00:00.000Z"
        elif change == "known":
            event["event_id"] = KNOWN
        elif change == "no_sent":
            event.pop("sent_at", None)
    return event


_BATCHES = st.lists(_events(), min_size=1, max_size=6).flatmap(
    lambda events: st.lists(st.sampled_from(events), min_size=len(events), max_size=len(events) + 2))


@pytest.mark.parametrize("policy", VALUE_POLICIES)
def test_the_fast_path_decides_as_the_models(route: ingest.Ingest, settings: Settings, policy: Any) -> None:
    stamp = _stamp(route, settings, policy)
    taken = {"fast": 0, "stored": 0, "duplicates": 0, "rejected": 0}

    @examples(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(events=_BATCHES)
    def decide(events: list[Any]) -> None:
        body = json.dumps({"events": events}).encode()
        fast = route._decider._stored_batch(body, ORG, stamp)
        if fast is None:
            return
        taken["fast"] += 1
        taken["stored"] += len(fast.bodies)
        taken["duplicates"] += fast.duplicates
        taken["rejected"] += len(fast.rejected)
        models = ingest_decision._batch()(body)  # whatever the fast path takes, the models take
        assert fast == route._decider._batch(models.events, ORG, stamp)

    decide()
    assert min(taken.values()) > 20, taken  # not vacuous


def _outcome(decide: Callable[[], ingest_decision.Decision | None]) -> Any:
    try:
        return decide()
    except ApiError as error:
        return (error.status, error.code, error.message, error.field)


@pytest.mark.parametrize("policy", VALUE_POLICIES)
def test_the_fast_path_decides_one_event_as_the_models(route: ingest.Ingest, settings: Settings,
                                                       policy: Any) -> None:
    stamp = _stamp(route, settings, policy)
    taken = {"stored": 0, "refused": 0}

    @examples(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(event=_events())
    def decide(event: Any) -> None:
        body = json.dumps(event).encode()
        fast = _outcome(lambda: route._decider._stored_single(body, ORG, stamp))
        if fast is None:
            return
        model = ingest_decision._event()(body)  # whatever the fast path takes, the models take
        assert fast == _outcome(lambda: route._decider._single(model, ORG, stamp))
        taken["stored" if isinstance(fast, ingest_decision.Decision) else "refused"] += 1

    decide()
    assert min(taken.values()) > 10, taken  # not vacuous


def test_a_batch_of_sdk_events_takes_the_fast_path_and_keys_the_viewer(route: ingest.Ingest,
                                                                       settings: Settings) -> None:
    viewer = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    event = {"event_id": "5d0c1a8e-0c6f-4d57-9a3e-1f2b3c4d5e6f", "schema_version": "1",
             "event_type": "video.progressed", "occurred_at": "2026-11-20T12:30:00.123Z",
             "sent_at": "2026-11-20T12:30:00.200Z", "session_id": "0f8e0a4e-9a61-4b8f-8c53-2c1e5b0b9e77",
             "viewer_hash": viewer, "organization_id": "another", "device": {"type": "smuggled"},
             "consent": {"tracking": True}, "payload": {"position_ms": 15000, "percent": 25}}
    declined = {**event, "event_id": "6d0c1a8e-0c6f-4d57-9a3e-1f2b3c4d5e6f", "event_type": "consent.declined",
                "playback_id": 7, "payload": {}}
    body = json.dumps({"events": [event, declined]}).encode()
    decision = route._decider._stored_batch(body, ORG, _stamp(route, settings, "store"))
    assert decision is not None
    stored = [json.loads(line) for line in decision.bodies]
    assert stored[0]["viewer_hash"] == route._decider._viewer_keys.keyed(viewer)
    assert stored[0]["organization_id"] == ORG and stored[0]["device"]["type"] != "smuggled"  # the server's
    assert stored[1]["viewer_hash"] is None and stored[1]["playback_id"] is None  # declined: blanked
    assert viewer not in b"".join(decision.bodies).decode()


@pytest.mark.parametrize("sent", ["2026-11-20T12:30:00.123+00:00", "2026-11-20T12:30:00.123456Z",
                                  "2024-02-29T12:30:00.123Z", "2026-11-20T12:30:00Z"])
def test_other_forms_of_a_time_go_the_models_way(route: ingest.Ingest, settings: Settings, sent: str) -> None:
    event = {"event_id": "5d0c1a8e-0c6f-4d57-9a3e-1f2b3c4d5e6f", "schema_version": "1",
             "event_type": "session.started", "occurred_at": "2024-01-01T00:00:00.000Z", "sent_at": sent,
             "session_id": "0f8e0a4e-9a61-4b8f-8c53-2c1e5b0b9e77", "consent": {"tracking": True}}
    body = json.dumps({"events": [event]}).encode()
    assert route._decider._stored_batch(body, ORG, _stamp(route, settings, "store")) is None
    assert route._decider.decide(body, ORG, _stamp(route, settings, "store")).bodies  # stored that way


def test_a_stored_form_time_is_one_format_timestamp_writes() -> None:
    pattern = re.compile(STORED_TIMESTAMP)
    for year in (1999, 2000, 2023, 2024, 2100, 9999):
        for month in range(1, 14):
            for day in range(1, 33):
                for clock in ("00:00:00.000", "23:59:59.999", "24:00:00.000", "12:60:00.000", "12:00:60.000"):
                    text = f"{year:04d}-{month:02d}-{day:02d}T{clock}Z"
                    if pattern.fullmatch(text):
                        assert format_timestamp(datetime.fromisoformat(text)) == text
                        assert year >= 2000
                    elif year >= 2000 and clock[:2] != "24" and ":60" not in clock:
                        # refused: a day some month lacks, or 29 February
                        assert month > 12 or day > 28
                        if month <= 12 and day <= calendar.monthrange(year, month)[1]:
                            assert (month, day) == (2, 29)


@examples(max_examples=300)
@given(st.from_regex(LOCALE_PATTERN, fullmatch=True).filter(lambda tag: len(tag) <= 35)
       | st.sampled_from(["es-CL", "en", "es-419", "zh-Hant-TW", "sr-Latn", "de-CH-1996"]))
def test_a_stored_form_locale_is_one_normalisation_leaves_unchanged(tag: str) -> None:
    if re.fullmatch(STORED_LOCALE, tag):
        assert _normalise_locale(tag) == tag


def test_a_validator_without_a_native_stored_form_fails_the_build() -> None:
    class Event(BaseModel):
        model_config = ConfigDict(extra="ignore")
        name: str

        @field_validator("name")
        @classmethod
        def _lower(cls, value: str) -> str:
            return value.lower()

    with pytest.raises(KeyError, match="_lower"):
        stored_batch(Event.__pydantic_core_schema__, 10)


def test_models_shared_by_reference_are_inlined() -> None:
    class Inner(BaseModel):
        x: int

    class Outer(BaseModel):
        a: Inner
        b: Inner | None = None

    schema = TypeAdapter(Outer).core_schema
    assert schema["type"] == "definitions"  # as the events' before warm_up rebuilt them
    batch = stored_batch(schema, 10).validate_json(b'{"events": [{"a": {"x": 1}, "b": {"x": 2, "y": 3}}]}')
    assert batch["events"] == [{"a": {"x": 1}, "b": {"x": 2}}]


def test_a_body_that_is_also_a_single_event_is_not_a_batch_here(route: ingest.Ingest,
                                                                 settings: Settings) -> None:
    with pytest.raises(ValidationError):
        ingest_decision._stored_batch().validate_json(b'{"events": []}')
    body = b'{"events": [], "event_type": "session.started"}'
    assert route._decider._stored_batch(body, ORG, _stamp(route, settings, "store")) is None
