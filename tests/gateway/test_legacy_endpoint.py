"""The legacy indiTrack endpoints and the attachment lookup, over HTTP, on the real local queue."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.middleware.rate_limit import RateLimits
from gateway.tokens import TokenVerifier
from pipeline.config import load_settings
from pipeline.governance.registry import Attachment, OrganizationRegistry
from pipeline.queue.local import LocalQueue
from pipeline.store.local import LocalStore
from tests._fixtures import fixture_names, load_fixture
from tests.gateway._client import TOKEN_KEYS

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
GROUP_KEYS = {"afp-habitat": "7Qm2-habitat-tgk", "plan-vital": "pv-group-key"}


class Legacy:
    def __init__(self, root: Path) -> None:
        self.settings = load_settings({"PERCUS_DATA_DIR": str(root), "PERCUS_TOKEN_KEYS": TOKEN_KEYS})
        self.store = LocalStore(root / "bucket")
        registry = OrganizationRegistry(self.store)
        for org, key in GROUP_KEYS.items():
            registry.create(org, legacy_group_keys=(key,))
        registry.register_attachment(Attachment(attachment_code="att-42", organization_id="plan-vital",
                                                project_id="pensions", template_id="t-9"))
        self.queue = LocalQueue(root / "queue")
        self.client = TestClient(create_app(self.settings, self.queue, store=self.store,
                                            rate_limits=RateLimits()))

    def post(self, body: Any, evt: str | None = None, path: str = "/api/indiTrack",
             content_type: str = "application/json") -> Any:
        return self.client.post(path, params={"evt": evt} if evt else None,
                                content=body if isinstance(body, bytes) else json.dumps(body).encode(),
                                headers={"Content-Type": content_type, "User-Agent": IPHONE,
                                         "X-Forwarded-For": "203.0.113.200"})

    def queued(self) -> list[dict[str, Any]]:
        messages = self.queue.receive(10_000, 0)
        self.queue.delete([m.receipt for m in messages])
        return [json.loads(m.body) for m in messages]


@pytest.fixture
def legacy(tmp_path: Path) -> Any:
    instance = Legacy(tmp_path)
    with instance.client:
        yield instance
    instance.queue.close()


@pytest.mark.parametrize("name", fixture_names("individeo/indiTrack"))
@pytest.mark.parametrize("path", ["/api/indiTrack", "/analytics/v1/indiTrack"])
def test_every_fixture_lands_as_its_canonical_events(legacy: Legacy, name: str, path: str) -> None:
    case = load_fixture(name)
    body = {**case["body"], "trackerGroupKey": GROUP_KEYS[case["organization_id"]]} \
        if "trackerGroupKey" in case["body"] else case["body"]
    answer = legacy.post(body, case["query"].get("evt"), path)
    assert answer.status_code == 202, answer.text
    expected = case["expected"]["events"]
    assert answer.json()["accepted"] == len(expected)
    assert answer.json()["audited"] is (not expected)
    stored = legacy.queued()
    assert [e["event_type"] for e in stored] == [e["event_type"] for e in expected]
    for got, want in zip(stored, expected, strict=True):
        assert got["organization_id"] == case["organization_id"]
        assert got["payload"] == {**got["payload"], **want.get("payload", {})}
        assert got["device"]["type"] == "mobile"
    text = json.dumps(stored)
    assert "203.0.113.200" not in text and "iPhone OS" not in text and "RUT-" not in text


def test_unknown_group_key_is_403_and_nothing_is_stored(legacy: Legacy) -> None:
    answer = legacy.post({"event": "onCTA", "trackerKey": "k", "trackerGroupKey": "nobody's",
                          "ctaName": "x"}, "onCTA")
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "unknown_group_key")
    assert legacy.queued() == []


@pytest.mark.parametrize(("body", "evt", "code"), [
    (b"{not json", "onCTA", "malformed_json"),
    (b'{"a":' * 80_000 + b"1" + b"}" * 80_000, "onCTA", "malformed_json"),  # nested too deep to decode
    ({"trackerKey": "k", "trackerGroupKey": "7Qm2-habitat-tgk"}, "onRewind", "unknown_evt"),
    ({"event": "onCTA", "trackerKey": "k", "trackerGroupKey": "7Qm2-habitat-tgk"}, "onInteraction",
     "evt_mismatch"),
    ([1, 2], "onCTA", None),
])
def test_bad_posts_are_400_with_a_code(legacy: Legacy, body: Any, evt: str, code: str | None) -> None:
    answer = legacy.post(body, evt)
    assert answer.status_code == 400
    if code:
        assert answer.json()["error"]["code"] == code
    assert legacy.queued() == []


def test_a_lone_surrogate_becomes_a_replacement_character(legacy: Legacy) -> None:
    body = (b'{"event": "onCTA", "trackerKey": "tk-9", "trackerGroupKey": "pv-group-key", '
            b'"ctaName": "V \\ud83d"}')
    assert legacy.post(body, "onCTA").json()["accepted"] == 1
    [stored] = legacy.queued()
    assert stored["payload"]["cta_name"] == "V \ufffd"


def test_a_retry_across_a_window_boundary_is_still_a_duplicate(legacy: Legacy,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    arrivals = iter([datetime(2026, 11, 25, 14, 4, 19, 900_000, tzinfo=UTC),
                     datetime(2026, 11, 25, 14, 4, 20, 300_000, tzinfo=UTC)])

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return next(arrivals)

    monkeypatch.setattr("gateway.legacy.datetime", Clock)
    body = {"event": "onCTA", "trackerKey": "tk-9", "trackerGroupKey": "pv-group-key", "ctaName": "Call"}
    assert legacy.post(body, "onCTA").json()["accepted"] == 1
    assert legacy.post(body, "onCTA").json()["duplicates"] == 1
    assert len(legacy.queued()) == 1


def test_wrong_content_type_is_415(legacy: Legacy) -> None:
    assert legacy.post({"event": "onCTA"}, "onCTA", content_type="application/xml").status_code == 415


def test_a_legacy_retry_is_answered_as_a_duplicate(legacy: Legacy) -> None:
    body = {"event": "onCTA", "trackerKey": "tk-1", "trackerGroupKey": "pv-group-key", "ctaName": "Call"}
    assert legacy.post(body, "onCTA").json()["accepted"] == 1
    assert legacy.post(body, "onCTA").json() == {"accepted": 0, "duplicates": 1, "rejected": [],
                                                 "audited": False, "warnings": []}
    assert len(legacy.queued()) == 1


def test_embed_lookup_answers_a_player_and_a_token_of_the_registered_organization(legacy: Legacy) -> None:
    answer = legacy.client.get("/analytics/v1/legacy/embeds/att-42")
    assert answer.status_code == 200
    found = answer.json()
    assert found["player_url"].endswith("/player")
    share = TokenVerifier(legacy.settings.token_keys).verify(found["share_token"])
    assert (share.organization_id, share.project_id) == ("plan-vital", "pensions")
    assert found["template_id"] == "t-9"
    assert (found["tracking"], found["consent_required"]) == (False, True)  # registered without defaults
    missing = legacy.client.get("/analytics/v1/legacy/embeds/unknown-code")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "unknown_attachment")


def test_embed_lookup_answers_the_operators_tracking_defaults(legacy: Legacy) -> None:
    OrganizationRegistry(legacy.store).register_attachment(Attachment(
        attachment_code="att-43", organization_id="plan-vital", project_id="pensions", tracking=True,
        consent_required=False))
    found = legacy.client.get("/analytics/v1/legacy/embeds/att-43").json()
    assert (found["tracking"], found["consent_required"]) == (True, False)
    paths = legacy.client.get("/analytics/v1/openapi.json").json()["paths"]
    lookup = paths["/analytics/v1/legacy/embeds/{attachment_code}"]["get"]
    assert "`tracking` and `consent_required`" in lookup["description"]
    assert "consent_required" in lookup["responses"]["200"]["description"]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=12)
FIELDS = st.sampled_from(["event", "trackerKey", "trackerGroupKey", "ctaName", "ctaValue", "chapterName",
                          "interactionName", "projectCode", "lang", "eventName"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(evt=st.none() | st.sampled_from(["onCTA", "pageLoad", "onLog", "onConsentDeclined"]) | st.text(),
       body=JSON | st.dictionaries(FIELDS, JSON | st.text(), max_size=6),
       known_key=st.booleans())
def test_any_json_is_answered_2xx_or_4xx_and_never_lands_in_another_organization(
        legacy: Legacy, evt: str | None, body: Any, known_key: bool) -> None:
    if known_key and isinstance(body, dict):
        body = {**body, "trackerGroupKey": GROUP_KEYS["afp-habitat"]}
    answer = legacy.post(body, evt)
    assert answer.status_code in (202, 400, 403), answer.text
    for event in legacy.queued():
        assert event["organization_id"] == "afp-habitat"
