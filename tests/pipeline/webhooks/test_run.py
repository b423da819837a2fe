"""Webhook runs against real receivers (tests/pipeline/webhooks/_harness.py): each committed event sent
once and signed, retries with backoff, dead letters and redrive, organizations kept apart, and what
collection does when curated changes under it. Time for signatures and retry schedules is an injected
clock, so no test sleeps through a backoff.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from percus.background import PipelineLoop
from percus.cli import main
from pipeline.governance import audit
from pipeline.governance.registry import OrganizationRegistry
from pipeline.layout import curated_key
from pipeline.store.local import LocalStore
from pipeline.webhooks.collect import collect
from pipeline.webhooks.dead_letters import dead_letters, pending, redrive
from pipeline.webhooks.deliver import ATTEMPT_HEADER, ID_HEADER
from pipeline.webhooks.outbox import Cursor, dead_prefix, outbox_prefix
from pipeline.webhooks.policy import WebhookPolicy, signing_secrets
from pipeline.webhooks.signatures import SIGNATURE_HEADER
from tests.pipeline._impossible_rows import make_impossible
from tests.pipeline._sessions import DAY1, write_raw
from tests.pipeline.webhooks._harness import (
    SINCE,
    T0,
    Clock,
    Receivers,
    deliver,
    events,
    hook,
    ids,
    land,
)
from tests.pipeline.webhooks._receiver import verify_signature

# -- delivery ------------------------------------------------------------------------------------


def test_each_committed_event_is_sent_once_as_canonical_json_with_a_valid_signature(
        store: LocalStore, registry: OrganizationRegistry, receivers: Receivers, clock: Clock) -> None:
    receiver = receivers["acme"]
    hook(registry, receiver)
    first = events("acme", 90)  # 10:00 to 11:29: two curated hours
    land(store, first)
    report = deliver(store, clock)
    assert report.organizations["acme"].events_delivered == 90
    assert sorted(receiver.accepted()) == sorted(ids(first))
    (request,) = receiver.requests
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "Percus-Webhooks/1"
    assert request.headers[ATTEMPT_HEADER] == "1" and request.headers[ID_HEADER]
    assert request.headers[SIGNATURE_HEADER].startswith(f"t={int(T0)},v1=")
    sent = json.loads(request.body)
    assert list(sent) == ["events"]
    # Exactly the canonical events the gateway stored, oldest first.
    assert sent["events"] == sorted(first, key=lambda event: (event["received_at"], event["event_id"]))
    assert all(event["viewer_hash"] == first[0]["viewer_hash"] for event in sent["events"])

    assert deliver(store, clock).organizations["acme"].events_delivered == 0  # nothing new, nothing sent
    assert len(receiver.requests) == 1

    # New events; a late raw object for an hour sent long ago; earlier-received copies of events
    # already sent, in another hour and on the day before, which the compactor keeps instead.
    later = events("acme", 5, DAY1 + timedelta(hours=14))
    late = events("acme", 3, DAY1 + timedelta(hours=10, minutes=5))
    moved = [dict(first[0], received_at="2026-11-24T09:59:00.000Z"),
             dict(first[80], received_at="2026-11-23T23:30:00.000Z")]
    land(store, later + late + moved)
    assert deliver(store, clock).organizations["acme"].events_delivered == 8
    assert sorted(receiver.accepted()) == sorted(ids(first + later + late))  # each once
    assert receiver.rejected == []


def test_503_twice_is_retried_with_exponential_backoff_then_delivered_once(
        store: LocalStore, registry: OrganizationRegistry, receivers: Receivers, clock: Clock) -> None:
    receiver = receivers["acme"]
    hook(registry, receiver)
    sent = events("acme", 4)
    land(store, sent)
    receiver.plan = [503, 503]

    report = deliver(store, clock)
    assert report.organizations["acme"].failed_attempts == 1
    (waiting,) = pending(store, "acme")
    assert waiting.attempts == 1 and waiting.last_error == "HTTP 503"
    assert waiting.next_attempt_at == T0 + 22.5  # 30 s, jitter 0.5: 15 + 7.5

    clock.now = T0 + 22  # not due yet: no request
    deliver(store, clock)
    assert len(receiver.requests) == 1
    clock.now = T0 + 22.5
    deliver(store, clock)
    (waiting,) = pending(store, "acme")
    assert waiting.attempts == 2 and waiting.next_attempt_at == T0 + 22.5 + 45  # 60 s, jitter 0.5
    clock.now = waiting.next_attempt_at
    report = deliver(store, clock)
    assert report.organizations["acme"].events_delivered == 4
    assert [request.status for request in receiver.requests] == [503, 503, 200]
    assert [request.headers[ATTEMPT_HEADER] for request in receiver.requests] == ["1", "2", "3"]
    assert len({request.headers[ID_HEADER] for request in receiver.requests}) == 1  # one batch id
    assert [request.body for request in receiver.requests[1:]] == [receiver.requests[0].body] * 2
    assert sorted(receiver.accepted()) == sorted(ids(sent))
    assert pending(store, "acme") == [] and dead_letters(store) == []
    assert receiver.rejected == []


def test_429_waits_at_least_its_retry_after(store: LocalStore, registry: OrganizationRegistry,
                                             receivers: Receivers, clock: Clock) -> None:
    receiver = receivers["acme"]
    hook(registry, receiver)
    land(store, events("acme", 2))
    receiver.plan = [429]
    deliver(store, clock)
    (waiting,) = pending(store, "acme")
    assert waiting.next_attempt_at == T0 + 120 and waiting.last_error == "HTTP 429"


def test_a_redirect_is_not_followed_and_is_permanent(store: LocalStore, registry: OrganizationRegistry,
                                                      receivers: Receivers, clock: Clock) -> None:
    receiver = receivers["acme"]
    hook(registry, receiver)
    land(store, events("acme", 2))
    receiver.plan = [302]
    report = deliver(store, clock)
    assert len(report.organizations["acme"].dead_lettered) == 1 and len(receiver.requests) == 1
    (dead,) = dead_letters(store, "acme")
    assert (dead.dead_reason, dead.last_error) == ("permanent", "HTTP 302")


def test_a_request_hanging_past_the_timeout_is_retried(store: LocalStore, registry: OrganizationRegistry,
                                                        receivers: Receivers, clock: Clock) -> None:
    receiver = receivers["acme"]
    hook(registry, receiver)
    sent = events("acme", 3)
    land(store, sent)
    receiver.plan = ["hang"]
    report = deliver(store, clock)
    assert report.organizations["acme"].failed_attempts == 1
    (waiting,) = pending(store, "acme")
    assert waiting.last_error == "timeout (ReadTimeout)"
    clock.now = waiting.next_attempt_at or 0
    deliver(store, clock)
    assert [request.status for request in receiver.requests] == [None, 200]
    assert sorted(receiver.accepted()) == sorted(ids(sent))


def test_a_4xx_dead_letters_at_once_and_redrive_delivers_once(
        store: LocalStore, registry: OrganizationRegistry, receivers: Receivers, clock: Clock) -> None:
    receiver = receivers["acme"]
    hook(registry, receiver)
    sent = events("acme", 7)
    land(store, sent)
    receiver.default = 400
    report = deliver(store, clock, WebhookPolicy(timeout=1, batch_size=3))
    # Permanent: each batch is tried once, dead-lettered, and the next one goes.
    assert len(report.organizations["acme"].dead_lettered) == 3
    assert [request.status for request in receiver.requests] == [400, 400, 400]
    dead = dead_letters(store, "acme")
    assert [(batch.event_count, batch.attempts, batch.dead_reason, batch.last_error) for batch in dead] == [
        (3, 1, "permanent", "HTTP 400"), (3, 1, "permanent", "HTTP 400"), (1, 1, "permanent", "HTTP 400")]
    records = list(audit.list_records(store, action="webhook.dead_lettered"))
    assert [record["details"]["batch_id"] for record in records] == [batch.batch_id for batch in dead]
    assert records[0]["details"]["webhook_host"] == "127.0.0.1"
    audit_bytes = b"".join(store.get(key) for key in store.list("audit/"))
    assert not any(event_id.encode() in audit_bytes for event_id in ids(sent))  # no event content
    assert receiver.secret.encode() not in audit_bytes

    receiver.default = 200
    assert redrive(store, "acme", actor="cli:test") == [batch.batch_id for batch in dead]
    assert dead_letters(store) == []
    deliver(store, clock)
    assert sorted(receiver.accepted()) == sorted(ids(sent))
    assert [request.headers[ID_HEADER] for request in receiver.requests[3:]] == \
        [batch.batch_id for batch in dead]  # the same batch ids as before the redrive
    (redriven,) = audit.list_records(store, action="webhook.redriven")
    assert redriven["details"]["batches"] == 3 and redriven["details"]["event_count"] == 7


def test_after_max_attempts_a_batch_is_dead_lettered_and_the_next_goes_then_cli_redrive(
        data_dir: Path, receivers: Receivers, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    store = LocalStore(data_dir / "bucket")
    registry = OrganizationRegistry(store, cache_seconds=0)
    receiver = receivers["acme"]
    hook(registry, receiver)
    sent = events("acme", 5)
    land(store, sent)
    receiver.default = 503
    policy = WebhookPolicy(max_attempts=3, base_delay=30, max_delay=600, timeout=1, batch_size=3)
    for _ in range(3):
        report = deliver(store, clock, policy)
        due = [batch.next_attempt_at for batch in pending(store, "acme")]
        clock.now = due[0] or clock.now
    # The first batch failed 3 times and went to dead letters; the second had its first attempt.
    assert len(report.organizations["acme"].dead_lettered) == 1
    (dead,) = dead_letters(store, "acme")
    assert (dead.attempts, dead.dead_reason, dead.event_count) == (3, "attempts_exhausted", 3)
    assert len(dead.history) == 3 and all(line.endswith("HTTP 503") for line in dead.history)
    assert store.list(dead_prefix("acme")) and next(store.list(dead_prefix("acme"))).endswith(".json")
    (waiting,) = pending(store, "acme")
    assert waiting.attempts == 1
    assert [request.headers[ATTEMPT_HEADER] for request in receiver.requests] == ["1", "2", "3", "1"]

    with pytest.raises(SystemExit):
        main(["webhook", "dead-letters"])
    out = capsys.readouterr().out
    assert dead.batch_id in out and "attempts_exhausted (HTTP 503)" in out
    with pytest.raises(SystemExit) as exit_:
        main(["webhook", "redrive", "--org", "acme"])
    assert exit_.value.code == 2 and "--batch ID" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["webhook", "redrive", "--org", "acme", "--batch", "nope"])
    assert exit_.value.code == 2 and "no dead-lettered batch nope" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["webhook", "redrive", "--org", "acme", "--batch", dead.batch_id])
    assert exit_.value.code == 0 and f"redriven: {dead.batch_id}" in capsys.readouterr().out

    receiver.default = 200
    clock.now = max(batch.next_attempt_at or 0 for batch in pending(store, "acme"))
    deliver(store, clock, policy)
    assert sorted(receiver.accepted()) == sorted(ids(sent))
    assert pending(store, "acme") == [] and dead_letters(store) == []


def test_two_organizations_only_ever_get_their_own_events(
        store: LocalStore, registry: OrganizationRegistry, receivers: Receivers, clock: Clock) -> None:
    acme, globex = receivers["acme"], receivers["globex"]
    hook(registry, acme)
    hook(registry, globex)
    assert acme.secret != globex.secret
    acme_events, globex_events = events("acme", 40), events("globex", 25)
    land(store, acme_events + globex_events)  # the same hours, compacted in one run
    globex.plan = [503]  # one failing endpoint does not hold back or redirect the other
    deliver(store, clock)
    clock.now += 600
    deliver(store, clock)
    # Each receiver checked every request with its own secret and saw only its organization.
    assert acme.rejected == [] and globex.rejected == []
    assert sorted(acme.accepted()) == sorted(ids(acme_events))
    assert sorted(globex.accepted()) == sorted(ids(globex_events))
    assert not set(acme.accepted()) & set(globex.accepted())


def test_disabled_and_unconfigured_organizations_get_nothing(
        store: LocalStore, registry: OrganizationRegistry, receivers: Receivers, clock: Clock) -> None:
    on, paused = receivers["acme"], receivers["initech"]
    hook(registry, on)
    hook(registry, paused)
    registry.disable_webhook("initech")
    registry.create("globex")  # no webhook at all
    land(store, events("acme", 3) + events("initech", 3) + events("globex", 3))
    report = deliver(store, clock)
    assert set(report.organizations) == {"acme"}
    assert len(on.accepted()) == 3 and paused.requests == []
    assert [*store.list(outbox_prefix("initech")), *store.list(outbox_prefix("globex"))] == []

    # Enabled again: from now on, so what was received during the pause is not sent ...
    assert registry.set_webhook("initech", paused.url, allow_loopback=True) is None  # the secret stays
    deliver(store, clock)
    assert paused.requests == []
    # ... unless asked for with an earlier `since`.
    registry.set_webhook("initech", paused.url, since=SINCE, allow_loopback=True)
    deliver(store, clock)
    assert len(paused.accepted()) == 3 and paused.rejected == []


def test_a_rotated_secret_signs_beside_the_old_one_for_a_day(
        store: LocalStore, registry: OrganizationRegistry, receivers: Receivers, clock: Clock) -> None:
    receiver = receivers["acme"]
    hook(registry, receiver)
    old = receiver.secret
    new = registry.rotate_webhook_secret("acme")
    assert new != old
    land(store, events("acme", 2))
    deliver(store, clock)  # T0 is in 2026-11: the rotation's 24 hours from now cover it
    (request,) = receiver.requests
    assert request.status == 200 and receiver.rejected == []  # the receiver still holds the old secret
    header, body = request.headers[SIGNATURE_HEADER], request.body
    assert verify_signature(new, header, body, now=T0) and header.count("v1=") == 2
    webhook = registry.require("acme").webhook
    assert webhook is not None and webhook.previous_secret_expires_at is not None
    assert signing_secrets(webhook, webhook.previous_secret_expires_at.timestamp() + 1) == [new]


def test_an_event_deleted_before_it_is_sent_is_not_sent(
        store: LocalStore, registry: OrganizationRegistry, receivers: Receivers, clock: Clock) -> None:
    receiver = receivers["acme"]
    hook(registry, receiver)
    sent = events("acme", 4)
    land(store, sent)
    collect(store, "acme", registry.require("acme").webhook)  # type: ignore[arg-type]
    # As a DSAR request would: the curated row goes, the outbox only names it.
    key = curated_key("acme", datetime(2026, 11, 24, 10))
    table = pq.read_table(pa.BufferReader(store.get(key)))
    table = table.filter(pc.not_equal(table.column("event_id"), sent[1]["event_id"]))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    store.put(key, sink.getvalue().to_pybytes())
    assert not any(sent[1]["viewer_hash"].encode() in store.get(key) for key in store.list("state/webhooks/"))
    report = deliver(store, clock)
    assert report.organizations["acme"].events_gone == 1
    assert sorted(receiver.accepted()) == sorted(ids(sent[:1] + sent[2:]))


def test_an_event_moved_to_another_hour_after_collection_is_sent_from_there(
        store: LocalStore, registry: OrganizationRegistry, receivers: Receivers, clock: Clock) -> None:
    receiver = receivers["acme"]
    hook(registry, receiver)
    sent = events("acme", 3)
    land(store, sent)
    collect(store, "acme", registry.require("acme").webhook)  # type: ignore[arg-type]
    # An earlier-received copy lands in the hour before: the compactor keeps it and drops the other.
    land(store, [dict(sent[0], received_at="2026-11-24T09:30:00.000Z")])
    before = pq.read_table(pa.BufferReader(store.get(curated_key("acme", datetime(2026, 11, 24, 9)))))
    assert before.column("event_id").to_pylist() == [sent[0]["event_id"]]
    report = deliver(store, clock)
    assert report.organizations["acme"].events_gone == 0
    assert sorted(receiver.accepted()) == sorted(ids(sent))
    (request,) = receiver.requests
    assert json.loads(request.body)["events"][0]["received_at"] == "2026-11-24T09:30:00.000Z"


def test_collecting_again_after_a_crash_rewrites_the_same_batches(
        store: LocalStore, registry: OrganizationRegistry, receivers: Receivers, clock: Clock) -> None:
    receiver = receivers["acme"]
    hook(registry, receiver)
    land(store, events("acme", 10))
    webhook = registry.require("acme").webhook
    assert webhook is not None
    collect(store, "acme", webhook, batch_size=4)
    batches = list(store.list(outbox_prefix("acme")))
    assert len(batches) == 3
    # A crash after the outbox was written and before the seen index and the cursor were.
    for key in list(store.list("state/webhooks/org=acme/")):
        store.delete(key)
    assert Cursor(store, "acme").days == {}
    collect(store, "acme", webhook, batch_size=4)
    assert list(store.list(outbox_prefix("acme"))) == batches
    deliver(store, clock)
    assert len(receiver.accepted()) == 10 == len(set(receiver.accepted()))


def test_the_serve_loop_sends_what_it_compacts(store: LocalStore, registry: OrganizationRegistry,
                                               receivers: Receivers, clock: Clock) -> None:
    receiver = receivers["acme"]
    hook(registry, receiver, since=datetime.now(UTC) - timedelta(minutes=5))
    receiver.clock = Clock(datetime.now(UTC).timestamp())  # the loop signs with the real clock
    fresh = events("acme", 3, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2))
    write_raw(store, fresh)
    PipelineLoop(store).tick()
    assert sorted(receiver.accepted()) == sorted(ids(fresh)) and receiver.rejected == []


# -- rows no Python datetime holds (tests/pipeline/_impossible_rows.py) -----------------------------


@pytest.mark.parametrize("column", ["event_time", "received_at"])
def test_a_row_that_cannot_be_converted_is_dead_lettered_alone_and_the_others_go(
        store: LocalStore, registry: OrganizationRegistry, receivers: Receivers, clock: Clock,
        column: str) -> None:
    receiver = receivers["acme"]
    hook(registry, receiver)
    sent = events("acme", 6)
    land(store, sent)
    hour = datetime(2026, 11, 24, 10)
    make_impossible(store, "acme", hour, sent[2]["event_id"], column)
    with pytest.raises(OverflowError):  # what a whole-table conversion meets
        pq.read_table(pa.BufferReader(store.get(curated_key("acme", hour)))).to_pylist()

    report = deliver(store, clock, WebhookPolicy(timeout=1, batch_size=4))
    assert report.organizations["acme"].error is None
    good = ids(sent[:2] + sent[3:])
    assert sorted(receiver.accepted()) == sorted(good) and receiver.rejected == []
    (dead,) = dead_letters(store, "acme")
    assert dead.event_ids == {"2026-11-24T10": [sent[2]["event_id"]]} and dead.event_count == 1
    assert (dead.dead_reason, dead.last_error) == ("unconvertible", "row not convertible")
    (record,) = audit.list_records(store, action="webhook.dead_lettered")
    assert record["details"]["batch_id"] == dead.batch_id and record["details"]["reason"] == "unconvertible"
    audit_bytes = b"".join(store.get(key) for key in store.list("audit/"))
    assert sent[2]["event_id"].encode() not in audit_bytes
    assert pending(store, "acme") == []

    # Nothing piles up behind it: later events go, and a redriven copy is set aside again, alone.
    later = events("acme", 3, DAY1 + timedelta(hours=14))
    land(store, later)
    redrive(store, "acme")
    deliver(store, clock)
    assert sorted(receiver.accepted()) == sorted(good + ids(later))
    assert [batch.batch_id for batch in dead_letters(store, "acme")] == [dead.batch_id]
    assert pending(store, "acme") == []


@pytest.mark.aws
def test_the_lambda_delivers_from_s3(aws: str, receivers: Receivers,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    from pipeline.lambdas import webhooks as webhooks_lambda
    from pipeline.store.s3 import S3Store

    bucket = f"percus-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    monkeypatch.setenv("PERCUS_STORE", f"s3://{bucket}")
    store = S3Store(bucket)
    registry = OrganizationRegistry(store, cache_seconds=0)
    receiver = receivers["acme"]
    receiver.clock = Clock(datetime.now(UTC).timestamp())
    hook(registry, receiver)
    sent = events("acme", 6)
    land(store, sent)
    webhooks_lambda.store.cache_clear()

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 300_000

    result = webhooks_lambda.handler({}, Context())
    webhooks_lambda.store.cache_clear()
    assert result["events_delivered"] == 6 and result["pending"] == 0 and result["errors"] == {}
    assert sorted(receiver.accepted()) == sorted(ids(sent)) and receiver.rejected == []
