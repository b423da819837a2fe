"""Hostile events over HTTP: times no clock explains and lone surrogates are answered per event, never
with a 500 or at the cost of the good events beside them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from tests.gateway._client import Gateway
from tests.gateway._events import event
from tests.translator._event_strategies import JSON, near_misses
from translator.canonical import format_timestamp

UNREPRESENTABLE = ["0001-01-01T00:00:00.000+01:00", "9999-12-31T23:59:59.999-14:00"]
TOO_EARLY = ["0001-01-01T00:00:00.000Z", "1999-12-31T23:59:59.999Z", "2000-01-01T05:00:00.000+06:00"]


def _at(offset: timedelta) -> str:
    return format_timestamp(datetime.now(UTC) + offset)


def _refusal(response: Any) -> dict[str, str]:
    assert response.status_code == 400, response.text
    return response.json()["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("value", UNREPRESENTABLE + TOO_EARLY)
@pytest.mark.parametrize("field", ["occurred_at", "sent_at", "consent.granted_at"])
def test_a_time_outside_the_window_is_a_400_naming_the_field(gateway: Gateway, field: str,
                                                              value: str) -> None:
    sent = event()
    if field == "consent.granted_at":
        sent["consent"] = {**sent["consent"], "granted_at": value}
    else:
        sent[field] = value
    error = _refusal(gateway.post(sent))
    assert (error["code"], error["field"]) == ("event_time_out_of_range", field)
    assert error["message"].startswith(field)
    assert gateway.queued() == []


def test_one_bad_time_in_a_batch_costs_only_that_event(gateway: Gateway) -> None:
    good = [event("session.started"), event("video.played")]
    bad = event("video.paused", occurred_at=UNREPRESENTABLE[0])
    response = gateway.post({"events": [good[0], bad, good[1]]})
    assert response.status_code == 202
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": [{
        "index": 1, "event_id": bad["event_id"],
        "error": {"code": "event_time_out_of_range", "field": "occurred_at",
                  "message": "occurred_at: is outside the years 1-9999 in UTC"}}]}
    assert sorted(e["event_id"] for e in gateway.queued()) == sorted(e["event_id"] for e in good)


def test_skew_inside_the_window_is_accepted_and_outside_it_refused(gateway: Gateway) -> None:
    # A client clock a month ahead sends its own times: the skew between them is what counts.
    month_ahead = event(occurred_at=_at(timedelta(days=30)), sent_at=_at(timedelta(days=30, seconds=2)))
    day_ahead = event(occurred_at=_at(timedelta(hours=23)))  # no sent_at: compared with receipt
    accepted = gateway.post({"events": [month_ahead, day_ahead]})
    assert accepted.json() == {"accepted": 2, "duplicates": 0, "rejected": []}

    error = _refusal(gateway.post(event(occurred_at=_at(timedelta(hours=25)))))
    assert (error["code"], error["field"]) == ("event_time_out_of_range", "occurred_at")
    assert "after the time the server received it" in error["message"]
    error = _refusal(gateway.post(event(occurred_at=_at(timedelta(hours=25)), sent_at=_at(timedelta()))))
    assert (error["code"], error["field"]) == ("event_time_out_of_range", "occurred_at")
    assert "after sent_at" in error["message"]
    # Year 9999 at sending corrects a 2026 occurrence to before 2000: no clock explains that.
    error = _refusal(gateway.post(event(sent_at="9999-12-31T00:00:00.000Z")))
    assert (error["code"], error["field"]) == ("event_time_out_of_range", "sent_at")


def test_a_lone_surrogate_becomes_a_replacement_character_not_a_lost_batch(gateway: Gateway) -> None:
    # What JSON.stringify writes for a string cut inside an emoji, in a payload name and an id.
    good = [event("session.started"), event("video.played")]
    cut = event("cta.clicked")
    cut["payload"] = {**cut["payload"], "cta_name": "Ver plan \ud83d"}
    cut["template_id"] = "t-\udc00"
    body = json.dumps({"events": [good[0], cut, good[1]]})
    assert "\\ud83d" in body  # json.dumps escapes it, as JSON.stringify does
    response = gateway.post(body.encode())
    assert response.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    stored = {e["event_id"]: e for e in gateway.queued()}
    assert stored[cut["event_id"]]["payload"]["cta_name"] == "Ver plan \ufffd"
    assert stored[cut["event_id"]]["template_id"] == "t-\ufffd"
    # A pair stays a pair, and an escaped backslash before "ud83d" is text, not an escape.
    pair = event("cta.clicked")
    pair["payload"] = {**pair["payload"], "cta_name": "ok \ud83d\ude00 \\ud83d"}
    single = gateway.post(json.dumps(pair).encode())
    assert single.status_code == 202
    [kept] = gateway.queued()
    assert kept["payload"]["cta_name"] == "ok \U0001f600 \\ud83d"


_HOSTILE = (JSON | near_misses() | st.builds(lambda e, t: {**e, "occurred_at": t},
                                             st.just(event()), st.sampled_from(UNREPRESENTABLE + TOO_EARLY)))


def test_a_batchs_good_events_are_accepted_whatever_its_other_items_hold(gateway: Gateway) -> None:
    @examples(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(others=st.lists(_HOSTILE, min_size=1, max_size=6), good_count=st.integers(1, 4),
           places=st.randoms(use_true_random=False))
    def post(others: list[Any], good_count: int, places: Any) -> None:
        good = [event() for _ in range(good_count)]
        items = others + good
        places.shuffle(items)
        response = gateway.post({"events": items})
        assert response.status_code == 202, response.text
        result = response.json()
        stored = {e["event_id"] for e in gateway.queued()}
        assert {e["event_id"] for e in good} <= stored
        assert result["accepted"] == len(stored) >= good_count
        assert result["accepted"] + result["duplicates"] + len(result["rejected"]) == len(items)

    post()
