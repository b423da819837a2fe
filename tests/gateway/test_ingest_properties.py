"""Property-based tests of POST /analytics/v1/events in-process (hypothesis): whatever the body, the
answer is a 2xx or a 4xx in the documented shape, and what it enqueues is what the compactor reads."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from starlette.testclient import TestClient

from gateway._request import json_body
from gateway.app import create_app
from gateway.middleware.rate_limit import RateLimits
from gateway.tokens import issue_token
from pipeline.config import Settings
from pipeline.queue.local import LocalQueue
from pipeline.raw import rawfile
from pipeline.raw.reader import read_raw
from tests.gateway._client import EVENTS
from tests.translator._event_strategies import JSON, near_misses, valid_events, with_lone_surrogates
from translator.event_parser import EventError, parse_event

ORG = "acme"
_EVENTS = valid_events() | valid_events(consent=True) | near_misses()
_BODIES = (
    JSON.map(json.dumps)
    | _EVENTS.map(json.dumps)
    | st.lists(_EVENTS, min_size=1, max_size=5).map(lambda events: json.dumps({"events": events}))
    | st.lists(valid_events(consent=True), min_size=1, max_size=5).map(lambda e: json.dumps({"events": e}))
    | st.binary(max_size=200)
    | with_lone_surrogates().map(json.dumps)
)
_CONTENT_TYPES = st.sampled_from(["application/json", "text/plain", "text/plain;charset=UTF-8",
                                  "application/json; charset=utf-8"])


def test_any_body_is_answered_2xx_or_4xx_and_what_is_queued_is_compactable(settings: Settings,
                                                                            queue: LocalQueue) -> None:
    with TestClient(create_app(settings, queue, rate_limits=RateLimits())) as client:
        token = issue_token(settings.token_keys, ORG, "p1")
        seen = {"202": 0, "4xx": 0, "stored": 0}

        @examples(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(body=_BODIES, content_type=_CONTENT_TYPES)
        def post(body: str | bytes, content_type: str) -> None:
            data = body.encode() if isinstance(body, str) else body
            answer = client.post(EVENTS, content=data, headers={"Authorization": f"Bearer {token}",
                                                                "Content-Type": content_type})
            messages = queue.receive(10_000, 0)
            queue.delete([message.receipt for message in messages])
            assert answer.status_code in (202, 400, 413), answer.text
            result = answer.json()
            if answer.status_code != 202:
                seen["4xx"] += 1
                assert set(result) == {"error"} and {"code", "message"} <= set(result["error"])
                assert messages == []
                return
            seen["202"] += 1
            assert set(result) == {"accepted", "duplicates", "rejected"}
            assert result["accepted"] == len(messages)
            _check_stored([message.body for message in messages], _sent(data))
            seen["stored"] += len(messages)

        post()
    # The properties were exercised on both sides, not vacuously.
    assert seen["202"] > 20 and seen["4xx"] > 20 and seen["stored"] > 20, seen


def _sent(data: bytes) -> dict[str, dict[str, Any]]:
    """The events of a body that was accepted, by event id (in its stored spelling)."""
    body = json_body(data)  # as the gateway reads it: a lone surrogate escape is U+FFFD
    events = body["events"] if "events" in body and "event_type" not in body else [body]
    out = {}
    for event in events:
        try:
            out[str(parse_event(event).event_id)] = event
        except EventError:  # refused: not stored
            continue
    return out


def _check_stored(bodies: list[bytes], sent: dict[str, dict[str, Any]]) -> None:
    for body in bodies:
        stored = json.loads(body)
        assert stored["organization_id"] == ORG and stored["project_id"] == "p1"
        original = sent[stored["event_id"]]  # only what was sent is stored
        again = parse_event(stored)  # the stored form is a valid event itself
        assert again.event_type == original["event_type"]
        assert "unknown_field" not in stored
    read = read_raw([("raw/org=acme/object.ndjson.gz", rawfile.encode(bodies))], ORG)
    assert read.corrupt == {} and read.table.num_rows == len(bodies)
