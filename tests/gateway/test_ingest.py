from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from gateway import ingest_decision
from gateway.app import create_app
from gateway.bodies import IngestResult
from gateway.middleware.rate_limit import RateLimits
from gateway.tokens import issue_token
from pipeline.config import Settings
from pipeline.governance.key_ring import KeyRing
from pipeline.queue.base import QueueUnavailable
from pipeline.queue.local import LocalQueue
from tests.gateway._client import EVENTS, Gateway
from tests.gateway._events import PAYLOADS, VIEWER_HASH, event
from translator.canonical import Envelope
from translator.event_parser import parse_event

CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/112.0.0.0 Mobile Safari/537.36")


def _error(response: object) -> dict[str, str]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    return body["error"]


# --- accepted events and what is stored ----------------------------------------------------------

def test_single_event_is_enqueued_with_server_fields(gateway: Gateway) -> None:
    sent = event("cta.clicked")
    before = datetime.now(UTC)
    response = gateway.post(sent, headers={"User-Agent": CHROME_ANDROID, "CloudFront-Viewer-Country": "CL",
                                           "Referer": "https://www.bank.cl/promo/spring?utm_source=mail"})
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    [stored] = gateway.queued()
    assert stored["event_id"] == sent["event_id"]
    assert stored["event_type"] == "cta.clicked"
    assert stored["payload"] == {"cta_id": "cta-1", "cta_name": "Contact me", "cta_value": None,
                                 "position_ms": 12000}
    assert (stored["organization_id"], stored["project_id"]) == ("acme", "spring-campaign")
    assert stored["device"] == {"type": "mobile", "os": "Android", "browser": "Chrome Mobile",
                                "is_bot": False}
    assert stored["geo"] == {"country": "CL"}
    assert stored["referrer_host"] == "www.bank.cl"
    received = datetime.fromisoformat(stored["received_at"])
    assert before - timedelta(seconds=1) <= received <= datetime.now(UTC) + timedelta(seconds=1)
    # The stored form is exactly the canonical model's JSON: every envelope field, nulls included.
    assert set(stored) == set(Envelope.model_fields) | {"event_type", "payload"}
    assert stored["received_at"].endswith("Z") and len(stored["received_at"]) == 24


@pytest.mark.parametrize("consent", [True, None])
def test_the_stored_form_is_the_canonical_models_json_with_each_field_once(gateway: Gateway,
                                                                           consent: bool | None) -> None:
    # The gateway writes the server's fields itself and the event's own fields through the model;
    # parsed again and dumped, the stored event must come out unchanged, and no key may repeat.
    sent = event("video.errored", consent=consent, organization_id="victim-org",
                 received_at="2001-01-01T00:00:00.000Z", device={"type": "desktop"},
                 sent_at="2026-11-25T11:00:00.500+01:00")
    headers = {"User-Agent": CHROME_ANDROID, "CloudFront-Viewer-Country": "CL"}
    assert gateway.post(sent, headers=headers).status_code == 202
    [message] = gateway.queue.receive(10, 0)
    pairs = json.loads(message.body, object_pairs_hook=lambda items: items)
    assert len({name for name, _ in pairs}) == len(pairs)
    stored = json.loads(message.body)
    assert json.loads(parse_event(stored).model_dump_json()) == stored
    assert (stored["organization_id"], stored["sent_at"]) == ("acme", "2026-11-25T10:00:00.500Z")
    assert (stored["viewer_hash"] is None) == (consent is None)


def test_a_body_both_a_batch_and_an_event_is_the_event(gateway: Gateway) -> None:
    inner, outer = event(), event("session.started")
    response = gateway.post({**outer, "events": [inner]})
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert [e["event_id"] for e in gateway.queued()] == [outer["event_id"]]
    # With an event_type that is no event's, the body is the batch it also is.
    response = gateway.post({**outer, "event_type": "video.teleported", "events": [inner]})
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert [e["event_id"] for e in gateway.queued()] == [inner["event_id"]]


def test_concurrent_requests_are_each_answered_after_their_event_is_queued(
    settings: Settings, queue: LocalQueue
) -> None:
    app = create_app(settings, queue, rate_limits=RateLimits())
    token = issue_token(settings.token_keys, "acme", "spring-campaign")
    sent = [event() for _ in range(40)] + [{"events": [event(), event()]}, event(viewer_hash="bad")]

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            headers = {"Authorization": f"Bearer {token}"}
            return list(await asyncio.gather(*(client.post(EVENTS, json=body, headers=headers)
                                               for body in sent)))

    responses = asyncio.run(post_all())
    assert [r.status_code for r in responses] == [202] * 41 + [400]
    assert [r.json()["accepted"] for r in responses[:41]] == [1] * 40 + [2]
    queued = {json.loads(m.body)["event_id"] for m in queue.receive(100, 0)}
    expected = {e["event_id"] for e in sent[:40]} | {e["event_id"] for e in sent[40]["events"]}
    assert queued == expected


def test_concurrent_copies_of_an_event_are_enqueued_once(settings: Settings, queue: LocalQueue) -> None:
    app = create_app(settings, queue, rate_limits=RateLimits())
    token = issue_token(settings.token_keys, "acme", "spring-campaign")
    sent = event()

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            headers = {"Authorization": f"Bearer {token}"}
            return list(await asyncio.gather(*(client.post(EVENTS, json=sent, headers=headers)
                                               for _ in range(10))))

    answers = [r.json() for r in asyncio.run(post_all())]
    assert sorted((a["accepted"], a["duplicates"]) for a in answers) == [(0, 1)] * 9 + [(1, 0)]
    assert len(queue.receive(100, 0)) == 1


class RefusesOnce(LocalQueue):
    """The real local queue, refusing its first send as a full disk would."""

    refused = False

    def send(self, bodies: Sequence[bytes]) -> None:
        if not self.refused:
            self.refused = True
            raise QueueUnavailable("disk full")
        super().send(bodies)


def test_a_retry_after_a_503_is_stored_not_a_duplicate(settings: Settings, tmp_path: Path) -> None:
    with RefusesOnce(tmp_path / "q") as queue, TestClient(create_app(settings, queue,
                                                                     rate_limits=RateLimits())) as client:
        gateway = Gateway(client, queue, settings)
        sent = event()
        assert gateway.post(sent).status_code == 503
        assert gateway.post(sent).json() == {"accepted": 1, "duplicates": 0, "rejected": []}
        assert [e["event_id"] for e in gateway.queued()] == [sent["event_id"]]


def test_server_owned_fields_in_the_body_are_overwritten(gateway: Gateway) -> None:
    sent = event(
        organization_id="victim-org", project_id="victim-project", public_share_id="forged-share",
        distribution_channel_id="forged-channel", received_at="2001-01-01T00:00:00.000Z",
        device={"type": "desktop", "os": "Amiga", "browser": "forged", "is_bot": False},
        geo={"country": "AQ"}, referrer_host="forged.example",
    )
    assert gateway.post(sent, headers={"User-Agent": "curl/8.1.2"}).status_code == 202
    [stored] = gateway.queued()
    assert (stored["organization_id"], stored["project_id"]) == ("acme", "spring-campaign")
    assert stored["public_share_id"] is None and stored["distribution_channel_id"] is None
    assert not stored["received_at"].startswith("2001")
    assert stored["device"] == {"type": "other", "os": None, "browser": "curl", "is_bot": False}
    assert stored["geo"] == {"country": None}
    assert stored["referrer_host"] is None


def test_share_and_channel_ids_come_from_the_token(gateway: Gateway) -> None:
    token = gateway.token("globex", "launch", public_share_id="share-7", distribution_channel_id="email-2")
    assert gateway.post(event(public_share_id="other"), token=token).status_code == 202
    [stored] = gateway.queued()
    assert (stored["organization_id"], stored["project_id"]) == ("globex", "launch")
    assert (stored["public_share_id"], stored["distribution_channel_id"]) == ("share-7", "email-2")


def test_token_in_the_query_string_and_text_plain_body(gateway: Gateway) -> None:
    # What the browser SDK sends: no Authorization header and a "simple" content type, so no preflight.
    response = gateway.client.post(f"{EVENTS}?token={gateway.token()}", content=json.dumps(event()),
                                   headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert response.status_code == 202
    assert len(gateway.queued()) == 1


def test_application_json_with_charset_is_accepted(gateway: Gateway) -> None:
    assert gateway.post(event(), content_type="application/json; charset=utf-8").status_code == 202


def test_integer_schema_version_takes_the_slow_path_and_is_accepted(gateway: Gateway) -> None:
    assert gateway.post(event(schema_version=1)).status_code == 202
    assert gateway.queued()[0]["schema_version"] == "1"


def test_batch_accepts_valid_events_and_rejects_invalid_ones_per_event(gateway: Gateway) -> None:
    good = [event("session.started"), event("video.played"), event("video.completed")]
    bad_hash = event(viewer_hash="not-a-hash")
    unknown = event(event_type="video.teleported")
    no_consent = event("video.paused", consent=None)
    batch = [good[0], bad_hash, good[1], unknown, "not an object", no_consent, good[2]]
    response = gateway.post({"events": batch})
    assert response.status_code == 202
    result = IngestResult.model_validate_json(response.content)
    assert (result.accepted, result.duplicates) == (3, 0)
    assert [(r.index, r.event_id, r.error.code) for r in result.rejected] == [
        (1, bad_hash["event_id"], "invalid_field"),
        (3, unknown["event_id"], "unknown_event_type"),
        (4, None, "invalid_event"),
        (5, no_consent["event_id"], "consent_required"),
    ]
    assert result.rejected[0].error.field == "viewer_hash"
    assert "session.started" in result.rejected[1].error.message  # names the allowed types
    assert sorted(e["event_id"] for e in gateway.queued()) == sorted(e["event_id"] for e in good)


def test_watched_buckets_are_stored_and_a_malformed_set_rejects_only_its_event(gateway: Gateway) -> None:
    watched = {"watched": "ffffffffffffffff000000000", "watched_again": "003ffffc00000000000000000"}
    good = [event("video.paused", payload={"position_ms": 2000, **watched}),
            event("video.completed", payload={"duration_ms": 4000, "percent": 100, **watched}),
            event("video.incomplete", payload={"duration_ms": 4000, "percent": 40})]  # an older player
    bad = [event("video.incomplete", payload={"duration_ms": 4000, "percent": 40, "watched": "FFFF"}),
           event("video.paused", payload={"position_ms": 2000, "watched_again": "f" * 26}),
           event("video.completed", payload={"duration_ms": 4000, "percent": 100,  # again, never watched
                                             "watched": "f" * 24 + "0", "watched_again": "0" * 24 + "1"})]
    result = IngestResult.model_validate_json(gateway.post({"events": [good[0], *bad, *good[1:]]}).content)
    assert result.accepted == 3
    assert [(r.index, r.error.code, r.error.field) for r in result.rejected] == [
        (1, "invalid_field", "payload.watched"), (2, "invalid_field", "payload.watched_again"),
        (3, "invalid_field", "payload.watched_again")]
    assert "must be set in watched" in result.rejected[2].error.message
    stored = {e["event_id"]: e["payload"] for e in gateway.queued()}
    assert {key: stored[good[0]["event_id"]][key] for key in watched} == watched
    assert {key: stored[good[1]["event_id"]][key] for key in watched} == watched
    assert stored[good[2]["event_id"]]["watched"] is None


def test_a_valid_event_refused_in_a_batch_of_valid_events_is_named_by_its_id(gateway: Gateway) -> None:
    no_consent = event("video.paused", consent=None)
    result = IngestResult.model_validate_json(gateway.post({"events": [event(), no_consent]}).content)
    assert result.accepted == 1
    assert [(r.index, r.event_id, r.error.code) for r in result.rejected] == [
        (1, no_consent["event_id"], "consent_required")]


def test_batch_whose_every_event_is_invalid_still_answers_202(gateway: Gateway) -> None:
    response = gateway.post({"events": [event(viewer_hash="x"), event(consent=False)]})
    assert response.status_code == 202
    assert response.json()["accepted"] == 0
    assert [r["error"]["code"] for r in response.json()["rejected"]] == ["invalid_field", "consent_required"]
    assert gateway.queued() == []


def test_batch_of_500_is_accepted(gateway: Gateway) -> None:
    response = gateway.post({"events": [event() for _ in range(500)]})
    assert response.status_code == 202
    assert response.json()["accepted"] == 500
    assert len(gateway.queued()) == 500


# --- duplicates -------------------------------------------------------------------------------------

def test_duplicates_inside_a_batch_are_enqueued_once(gateway: Gateway) -> None:
    first = event()
    again = {**event(), "event_id": first["event_id"]}
    response = gateway.post({"events": [first, again, event()]})
    assert response.json() == {"accepted": 2, "duplicates": 1, "rejected": []}
    assert len(gateway.queued()) == 2


def test_a_batch_is_answered_anew_when_its_claims_find_duplicates() -> None:
    # Ids another process claimed between this batch's look-up and its claim (enqueue_new): the
    # race is not reproducible on purpose, so the answer it gets is checked from the decision.
    refusal = {"index": 2, "event_id": None, "error": {"code": "invalid_field", "message": "m", "field": "f"}}
    decision = ingest_decision.Decision([b"a", b"b"], "acme", [1, 2], b"", duplicates=1,
                                        rejected=("invalid_field",), refusals=(refusal,))
    assert json.loads(decision.recounted(1)) == {"accepted": 1, "duplicates": 2, "rejected": [refusal]}


def test_a_resent_event_is_a_duplicate_across_requests(gateway: Gateway) -> None:
    sent = event()
    assert gateway.post(sent).json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert gateway.post(sent).json() == {"accepted": 0, "duplicates": 1, "rejected": []}
    batch = gateway.post({"events": [sent, event()]})
    assert batch.json() == {"accepted": 1, "duplicates": 1, "rejected": []}
    assert [e["event_id"] for e in gateway.queued()].count(sent["event_id"]) == 1


def test_event_ids_are_remembered_per_organization(gateway: Gateway) -> None:
    sent = event()
    assert gateway.post(sent).json()["accepted"] == 1
    assert gateway.post(sent, token=gateway.token("globex", "launch")).json()["accepted"] == 1
    assert sorted(e["organization_id"] for e in gateway.queued()) == ["acme", "globex"]


def test_a_rejected_event_is_not_remembered(gateway: Gateway) -> None:
    sent = event(consent=None)
    assert gateway.post(sent).status_code == 400
    assert gateway.post({**sent, "consent": {"tracking": True}}).json()["accepted"] == 1


# --- consent gate -----------------------------------------------------------------------------------

CONSENT_FREE = {"consent.accepted", "consent.declined", "video.errored"}


@pytest.mark.parametrize("consent", [None, False])
def test_without_consent_only_consent_events_and_errors_pass(gateway: Gateway, consent: bool | None) -> None:
    batch = [event(event_type, consent=consent) for event_type in PAYLOADS]
    result = gateway.post({"events": batch}).json()
    rejected = {batch[r["index"]]["event_type"] for r in result["rejected"]}
    assert rejected == set(PAYLOADS) - CONSENT_FREE
    assert {r["error"]["code"] for r in result["rejected"]} == {"consent_required"}
    assert {r["error"]["field"] for r in result["rejected"]} == {"consent.tracking"}
    stored = {e["event_type"]: e for e in gateway.queued()}
    assert set(stored) == CONSENT_FREE
    errored = stored["video.errored"]
    assert errored["viewer_hash"] is None and errored["playback_id"] is None  # no viewer identifiers
    assert errored["session_id"] == batch[list(PAYLOADS).index("video.errored")]["session_id"]
    assert errored["payload"]["error_code"] == "MEDIA_ERR_NETWORK"
    declined = stored["consent.declined"]  # the decision is recorded, the viewer is not
    assert (declined["viewer_hash"], declined["playback_id"]) == (None, None)


def test_with_consent_every_event_type_passes_and_errors_keep_identifiers(gateway: Gateway) -> None:
    result = gateway.post({"events": [event(event_type) for event_type in PAYLOADS]}).json()
    assert (result["accepted"], result["rejected"]) == (len(PAYLOADS), [])
    errored = next(e for e in gateway.queued() if e["event_type"] == "video.errored")
    assert (errored["viewer_hash"], errored["playback_id"]) == (gateway.keyed(VIEWER_HASH), 1)


def test_the_stored_viewer_id_is_keyed_and_the_client_hash_is_stored_nowhere(gateway: Gateway) -> None:
    other_hash = "cd" * 32
    sent = [event(), event("video.paused", viewer_hash=VIEWER_HASH), event(viewer_hash=other_hash)]
    for body in (sent[0], {"events": sent[1:]}):
        assert gateway.post(body).status_code == 202
    stored = gateway.queued()
    keyed = [gateway.keyed(VIEWER_HASH)] * 2 + [gateway.keyed(other_hash)]
    assert [e["viewer_hash"] for e in stored] == keyed
    assert gateway.keyed(VIEWER_HASH) != gateway.keyed(other_hash)
    queue_bytes = b"".join(path.read_bytes() for path in (gateway.settings.data_dir / "queue").rglob("*")
                           if path.is_file())
    for client_hash in (VIEWER_HASH, other_hash):
        assert client_hash.encode() not in queue_bytes


def test_a_batch_of_several_viewers_stores_each_event_under_its_own_viewer(gateway: Gateway) -> None:
    # The gateway keys each viewer of a request once; each event must still get its own viewer's id.
    other_hash = "cd" * 32
    sent = [event(), event(viewer_hash=other_hash), event("consent.declined", consent=False), event(),
            event(viewer_hash=None), event(viewer_hash=other_hash)]
    assert gateway.post({"events": sent}).json()["accepted"] == len(sent)
    mine, other = gateway.keyed(VIEWER_HASH), gateway.keyed(other_hash)
    assert [e["viewer_hash"] for e in gateway.queued()] == [mine, other, None, mine, None, other]


def test_single_event_without_consent_is_a_400(gateway: Gateway) -> None:
    response = gateway.post(event("video.played", consent=False))
    assert response.status_code == 400
    assert _error(response) == {
        "code": "consent_required", "field": "consent.tracking",
        "message": _error(response)["message"],
    }
    assert "video.played" in _error(response)["message"]
    assert gateway.queued() == []


def test_single_error_without_consent_is_stripped(gateway: Gateway) -> None:
    assert gateway.post(event("video.errored", consent=None)).status_code == 202
    [stored] = gateway.queued()
    assert (stored["viewer_hash"], stored["playback_id"], stored["consent"]) == (None, None, None)


# --- every refusal ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "code"), [
    (b"{not json", "malformed_json"),
    (b"\xff\xfe", "malformed_json"),
    (b"[" * 200_000 + b"]" * 200_000, "malformed_json"),  # deeper than json.loads can go
    (b'{"events":[' + b"{" * 100_000 + b"}" * 100_000 + b"]}", "malformed_json"),
    (b"[]", "invalid_event"),
    (b'"a string"', "invalid_event"),
    (b'{"events": {"a": 1}}', "invalid_batch"),
    (b'{"events": []}', "empty_batch"),
])
def test_400_for_bodies_of_the_wrong_shape(gateway: Gateway, body: bytes, code: str) -> None:
    response = gateway.post(body)
    assert response.status_code == 400
    assert _error(response)["code"] == code


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"viewer_hash": "ABC"}, "invalid_field", "viewer_hash"),
    ({"event_id": "not-a-uuid"}, "invalid_field", "event_id"),
    ({"occurred_at": "2026-11-25 10:00"}, "invalid_field", "occurred_at"),
    ({"payload": {"position_ms": -1}}, "invalid_field", "payload.position_ms"),
    ({"event_type": "video.rewound"}, "unknown_event_type", "event_type"),
    ({"schema_version": "2"}, "unsupported_schema_version", "schema_version"),
    ({"schema_version": None}, "missing_schema_version", "schema_version"),
])
def test_400_for_a_single_invalid_event(gateway: Gateway, fields: dict[str, object], code: str,
                                        field: str) -> None:
    response = gateway.post(event(**fields))
    assert response.status_code == 400
    assert (_error(response)["code"], _error(response)["field"]) == (code, field)
    assert gateway.queued() == []


def test_401_codes(gateway: Gateway) -> None:
    genuine = gateway.token()
    version, kid, claims, signature = genuine.split(".")
    forged_claims = gateway.token("victim").split(".")[2]
    cases = {
        "token_malformed": "definitely-not-a-token",
        "token_bad_signature": f"{version}.{kid}.{forged_claims}.{signature}",
        "token_unknown_kid": f"{version}.k7.{claims}.{signature}",
        "token_expired": gateway.token(ttl=1, now=datetime.now(UTC).timestamp() - 10),
    }
    for code, token in cases.items():
        response = gateway.post(event(), token=token)
        assert response.status_code == 401, code
        assert _error(response)["code"] == code
        assert response.headers["WWW-Authenticate"] == "Bearer"
    missing = gateway.client.post(EVENTS, content=json.dumps(event()), headers={"Content-Type": "text/plain"})
    assert (missing.status_code, _error(missing)["code"]) == (401, "token_missing")
    assert gateway.queued() == []


def test_a_token_signed_by_the_previous_key_still_works(gateway: Gateway) -> None:
    old_key = KeyRing(gateway.settings.token_keys.keys[1:])
    assert gateway.post(event(), token=issue_token(old_key, "acme", "spring-campaign")).status_code == 202


def test_403_when_the_origin_is_not_allowed_by_the_token(gateway: Gateway) -> None:
    token = gateway.token(origins=["https://www.bank.cl"])
    refused = gateway.post(event(), token=token, headers={"Origin": "https://evil.example"})
    assert (refused.status_code, _error(refused)["code"]) == (403, "origin_not_allowed")
    assert gateway.post(event(), token=token, headers={"Origin": "https://www.bank.cl"}).status_code == 202
    assert gateway.post(event(), token=token).status_code == 202  # a native client sends no Origin
    assert len(gateway.queued()) == 2


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data",
                                          "application/xml", ""])
def test_415_for_other_content_types(gateway: Gateway, content_type: str) -> None:
    response = gateway.post(event(), content_type=content_type)
    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"


def test_413_for_a_body_over_512_kb(gateway: Gateway) -> None:
    big = event(template_id="t") | {"padding": "x" * (512 * 1024)}
    response = gateway.post(big)
    assert (response.status_code, _error(response)["code"]) == (413, "body_too_large")
    assert gateway.queued() == []


def test_413_for_a_streamed_body_over_512_kb(gateway: Gateway) -> None:
    def chunks():  # no Content-Length: the limit must hold while streaming
        yield b'{"events": ['
        for _ in range(200):
            yield json.dumps(event()).encode() + b"," + b" " * 4096
        yield b"]}"

    response = gateway.client.post(EVENTS, content=chunks(), headers={
        "Authorization": f"Bearer {gateway.token()}", "Content-Type": "application/json"})
    assert (response.status_code, _error(response)["code"]) == (413, "body_too_large")
    assert gateway.queued() == []


def test_413_for_more_than_500_events(gateway: Gateway) -> None:
    response = gateway.post({"events": [event() for _ in range(501)]})
    assert (response.status_code, _error(response)["code"]) == (413, "too_many_events")
    assert gateway.queued() == []


def test_503_when_the_queue_is_unavailable(gateway: Gateway) -> None:
    assert gateway.client.get("/readyz").status_code == 200
    gateway.queue.close()
    response = gateway.post(event())
    assert (response.status_code, _error(response)["code"]) == (503, "queue_unavailable")
    assert int(response.headers["Retry-After"]) >= 1
    ready = gateway.client.get("/readyz")
    assert (ready.status_code, _error(ready)["code"]) == (503, "queue_unavailable")


def test_404_and_405_are_json_errors(gateway: Gateway) -> None:
    missing = gateway.client.get("/analytics/v1/nothing-here")
    assert (missing.status_code, _error(missing)["code"]) == (404, "not_found")
    wrong = gateway.client.get(EVENTS)
    assert (wrong.status_code, _error(wrong)["code"]) == (405, "method_not_allowed")


def test_unknown_body_fields_are_never_stored(gateway: Gateway) -> None:
    sent = event(ip="198.51.100.9", recipient_code="CRM-12345", payload={"position_ms": 5, "email": "a@b.c"})
    assert gateway.post(sent).status_code == 202
    raw = json.dumps(gateway.queued())
    for secret in ("198.51.100.9", "CRM-12345", "a@b.c", "recipient_code", "email"):
        assert secret not in raw


def test_event_ids_are_stored_in_canonical_uuid_form(gateway: Gateway) -> None:
    upper = str(uuid.uuid4()).upper()
    assert gateway.post(event(event_id=upper)).status_code == 202
    assert gateway.queued()[0]["event_id"] == upper.lower()
    assert gateway.post(event(event_id=upper.lower())).json()["duplicates"] == 1
