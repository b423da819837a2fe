"""Per-organization webhooks against real HTTP receivers on 127.0.0.1 that verify every signature and
fail on purpose (503 n times, always 400, 429 with Retry-After, hanging past the client's timeout).

Events go through the real compactor (tests/pipeline/_sessions.py); time for signatures and retry
schedules is an injected clock, so no test sleeps through a backoff.
"""

from __future__ import annotations

import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from percus.background import PipelineLoop
from percus.cli import main
from pipeline.curated.compactor import compact
from pipeline.governance import audit
from pipeline.governance.registry import OrganizationRegistry, RegistryError, Webhook, check_webhook_url
from pipeline.governance.registry.organizations import Organizations
from pipeline.layout import curated_key
from pipeline.store.base import Store
from pipeline.store.local import LocalStore
from pipeline.webhooks.collect import collect
from pipeline.webhooks.dead_letters import dead_letters, pending, redrive
from pipeline.webhooks.deliver import ATTEMPT_HEADER, ID_HEADER
from pipeline.webhooks.outbox import Cursor, dead_prefix, outbox_prefix
from pipeline.webhooks.policy import WebhookPolicy, signing_secrets
from pipeline.webhooks.reports import WebhookReport
from pipeline.webhooks.run import run
from pipeline.webhooks.signatures import SIGNATURE_HEADER
from tests.pipeline._impossible_rows import make_impossible
from tests.pipeline._sessions import DAY1, Session, write_raw
from tests.pipeline.webhooks._receiver import SignatureError, verify_signature
from tests.pipeline.webhooks.conftest import TLS_NAME, Dns, Tls

SINCE = datetime(2026, 11, 1, tzinfo=UTC)  # before every event of the tests
T0 = 1_795_000_000.0  # the injected clock's start (epoch seconds, 2026-11-18)
POLICY = WebhookPolicy(max_attempts=4, base_delay=30, max_delay=600, timeout=0.3, batch_size=500)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Received:
    status: int | None  # None: the receiver hung and never answered in time
    headers: dict[str, str]
    body: bytes
    event_ids: list[str] = field(default_factory=list)


class Receiver:
    """An endpoint of one organization: checks the signature with its secret and the clock of the
    sender, and answers as planned (per request, then `default`): a status, or "hang"."""

    def __init__(self, org: str, clock: Clock, tls: ssl.SSLContext | None = None) -> None:
        self.org = org
        self.clock = clock
        self.secret = ""
        self.connections = 0  # accepted (after the TLS handshake, with `tls`)
        self.plan: list[int | str] = []
        self.default: int | str = 200
        self.requests: list[Received] = []
        self.rejected: list[str] = []  # why a request failed verification: must stay empty
        self.release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    action = receiver.plan.pop(0) if receiver.plan else receiver.default
                record = Received(None if action == "hang" else int(action), dict(self.headers), body)
                try:
                    verify_signature(receiver.secret, self.headers.get(SIGNATURE_HEADER, ""), body,
                                     now=receiver.clock())
                    events = json.loads(body)["events"]
                    if any(event["organization_id"] != receiver.org for event in events):
                        raise SignatureError("an event of another organization")
                    record.event_ids = [event["event_id"] for event in events]
                except (SignatureError, ValueError, KeyError) as exc:
                    receiver.rejected.append(str(exc))
                    action, record.status = 400, 400
                with receiver._lock:
                    receiver.requests.append(record)
                if action == "hang":
                    receiver.release.wait(1.0)
                    return  # the client has given up: nothing to answer
                self.send_response(int(action))
                if action == 429:
                    self.send_header("Retry-After", "120")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def verify_request(self, request: Any, client_address: Any) -> bool:
                receiver.connections += 1
                return True

        self.server = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/percus"

    def accepted(self) -> list[str]:
        """Event ids of the requests answered 2xx, in order: what the receiver took in."""
        return [event_id for request in self.requests if request.status == 200
                for event_id in request.event_ids]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


Receivers = dict[str, Receiver]  # organization -> its endpoint, made on first use


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "bucket")


@pytest.fixture
def registry(store: LocalStore) -> OrganizationRegistry:
    return OrganizationRegistry(store, cache_seconds=0, actor="cli:test")


@pytest.fixture
def receivers(clock: Clock) -> Iterator[dict[str, Receiver]]:
    made: dict[str, Receiver] = {}

    class Factory(dict[str, Receiver]):
        def __missing__(self, org: str) -> Receiver:
            made[org] = self[org] = Receiver(org, clock)
            return made[org]

    yield Factory()
    for receiver in made.values():
        receiver.close()


def hook(registry: OrganizationRegistry, receiver: Receiver, since: datetime = SINCE) -> None:
    """Create the receiver's organization with its webhook pointing at it."""
    if registry.get(receiver.org) is None:
        registry.create(receiver.org)
    secret = registry.set_webhook(receiver.org, receiver.url, since=since, allow_loopback=True)
    assert secret is not None and secret.startswith("whsec_")
    receiver.secret = secret


def events(org: str, count: int, start: datetime = DAY1 + timedelta(hours=10)) -> list[dict[str, Any]]:
    """`count` events of one session, a minute apart (so they span hours when there are many)."""
    session = Session(start, org=org).at(0, "session.started")
    for n in range(1, count):
        session.at(60 * n, "video.progressed", position_ms=1000 * n, percent=min(100.0, float(n)))
    return session.events


def land(store: Store, items: list[dict[str, Any]]) -> None:
    write_raw(store, items)
    compact(store)


def deliver(store: Store, clock: Clock, policy: WebhookPolicy = POLICY,
            **options: Any) -> WebhookReport:
    return run(store, policy=policy, clock=clock, jitter=lambda: 0.5, **options)


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [event["event_id"] for event in items]


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


# -- where requests go ----------------------------------------------------------------------------


@pytest.fixture
def tls_receiver(clock: Clock, tls: Tls) -> Iterator[Receiver]:
    """acme's endpoint over TLS, with a certificate for TLS_NAME (which the `dns` fixture resolves)."""
    receiver = Receiver("acme", clock, tls.server)
    yield receiver
    receiver.close()


def stored_webhook(store: Store, org: str, url: str) -> str:
    """A webhook record as written before URLs were checked for addresses; returns its secret."""
    organizations = Organizations(store, None)
    record = organizations.get(org) or organizations.create(org)
    secret = f"whsec_{uuid.uuid4().hex}"
    organizations.save(record.model_copy(update={"webhook": Webhook(url=url, secret=secret, since=SINCE)}))
    return secret


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "localhost"])
def test_delivery_never_connects_to_an_internal_address_stored_before_the_check(
        store: LocalStore, receivers: Receivers, clock: Clock, host: str) -> None:
    receiver = receivers["acme"]
    url = f"http://{host}:{receiver.port}/hooks/percus"  # 127.0.0.1, the receiver
    receiver.secret = stored_webhook(store, "acme", url)
    sent = events("acme", 3)
    land(store, sent)
    policy = WebhookPolicy(max_attempts=2, base_delay=30, max_delay=600, timeout=1)
    deliver(store, clock, policy)
    # It fails as an unreachable endpoint does: retried, then dead-lettered; never connected to.
    (waiting,) = pending(store, "acme")
    assert (waiting.attempts, waiting.last_error) == (1, "refused address (loopback)")
    clock.now = waiting.next_attempt_at or 0
    assert len(deliver(store, clock, policy).organizations["acme"].dead_lettered) == 1
    (dead,) = dead_letters(store, "acme")
    assert (dead.dead_reason, dead.last_error) == ("attempts_exhausted", "refused address (loopback)")
    (record,) = audit.list_records(store, action="webhook.dead_lettered")
    assert record["details"]["last_error"] == "refused address (loopback)"
    assert receiver.connections == 0

    # Allowed for this URL, the same spelling reaches the address it names, with its own Host header.
    OrganizationRegistry(store, cache_seconds=0).set_webhook("acme", url, allow_loopback=True)
    redrive(store, "acme")
    deliver(store, clock, policy)
    assert sorted(receiver.accepted()) == sorted(ids(sent)) and receiver.rejected == []
    assert receiver.requests[0].headers["Host"] == f"{host}:{receiver.port}"


def test_a_name_that_resolves_to_an_internal_address_when_sending_is_refused(
        store: LocalStore, registry: OrganizationRegistry, clock: Clock, dns: Dns, tls: Tls,
        tls_receiver: Receiver) -> None:
    url = f"https://{TLS_NAME}:{tls_receiver.port}/hooks/percus"
    registry.create("acme")
    dns.answers[TLS_NAME] = ["93.184.216.34"]  # public when the URL is set ...
    tls_receiver.secret = registry.set_webhook("acme", url, since=SINCE) or ""
    dns.answers[TLS_NAME] = ["127.0.0.1"]  # ... loopback when a batch goes: DNS rebinding
    land(store, events("acme", 2))
    with httpx.Client(transport=httpx.HTTPTransport(verify=tls.client)) as client:
        report = deliver(store, clock, client=client)
    assert report.organizations["acme"].failed_attempts == 1
    (waiting,) = pending(store, "acme")
    assert waiting.last_error == "refused address (loopback)"
    assert tls_receiver.connections == 0 and tls_receiver.requests == []


def test_the_client_dials_the_address_checked_and_tls_still_verifies_the_name(
        store: LocalStore, registry: OrganizationRegistry, clock: Clock, dns: Dns, tls: Tls,
        tls_receiver: Receiver) -> None:
    url = f"https://{TLS_NAME}:{tls_receiver.port}/hooks/percus"
    registry.create("acme")
    dns.answers[TLS_NAME] = ["127.0.0.1"]
    tls_receiver.secret = registry.set_webhook("acme", url, since=SINCE, allow_loopback=True) or ""
    sent = events("acme", 2)
    land(store, sent)
    dns.asked.clear()
    with httpx.Client(transport=httpx.HTTPTransport(verify=tls.client)) as client:
        deliver(store, clock, client=client)
    assert sorted(tls_receiver.accepted()) == sorted(ids(sent)) and tls_receiver.rejected == []
    assert dns.asked.count(TLS_NAME) == 1  # by the check alone: the client never resolved it again
    assert tls.sni == [TLS_NAME]  # the certificate, for that name only, was verified against it
    assert tls_receiver.requests[0].headers["Host"] == f"{TLS_NAME}:{tls_receiver.port}"


# -- settings ------------------------------------------------------------------------------------


def test_webhook_urls_are_http_or_https_and_https_unless_loopback() -> None:
    for good in ("https://hooks.example.com/percus?token=abc", "https://93.184.216.34/in"):
        assert check_webhook_url(good) == good
    for good in ("http://127.0.0.1:8080/h", "http://[::1]/h", "http://localhost:9000/"):
        assert check_webhook_url(good, allow_loopback=True) == good
    for bad, message in [("ftp://example.com/x", "must start with https://"),
                         ("example.com/hook", "must start with https://"),
                         ("http://example.com/hook", "must use https://"),
                         ("http://93.184.216.34/hook", "must use https://"),
                         ("https:///path", "has no host"),
                         ("https://example.com:port/", "not a valid URL"),
                         ("https://exa mple.com/", "whitespace"),
                         ("https://169.254.169.254/latest", "metadata"),
                         ("https://x.example/" + "a" * 2048, "at most 2048")]:
        with pytest.raises(RegistryError, match=message):
            check_webhook_url(bad)


def test_cli_sets_a_webhook_printing_its_secret_once_rotates_and_disables_it(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def cli(*argv: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_:
            main(list(argv))
        out, err = capsys.readouterr()
        return int(exit_.value.code or 0), out, err

    assert cli("org", "create", "acme")[0] == 0
    code, _, err = cli("org", "webhook", "acme", "--url", "http://hooks.example.com/in")
    assert code == 2 and "must use https://" in err
    code, out, err = cli("org", "webhook", "acme", "--url", "https://hooks.example.com/in?key=k")
    secret = out.strip()
    assert code == 0 and secret.startswith("whsec_") and len(secret) > 40 and "shown once" in err
    code, out, err = cli("org", "webhook", "acme")
    assert code == 0 and secret not in out + err and "enabled: yes" in out
    code, out, _ = cli("org", "webhook", "acme", "--url", "https://hooks.example.com/v2")
    assert out == "" or secret not in out  # a new URL keeps the secret and does not print it
    code, out, _ = cli("org", "webhook", "acme", "--rotate-secret")
    rotated = out.strip()
    assert code == 0 and rotated.startswith("whsec_") and rotated != secret
    code, out, _ = cli("org", "webhook", "acme", "--disable")
    assert code == 0 and "enabled: no" in out
    assert cli("org", "webhook", "acme", "--disable")[0] == 2  # already disabled

    store = LocalStore(data_dir / "bucket")
    changes = [record["details"]
               for record in audit.list_records(store, org="acme", action="org.settings_changed")]
    assert [change["webhook"] for change in changes] == [["created"], ["url_changed"], ["secret_rotated"],
                                                         ["disabled"]]
    assert {change["webhook_host"] for change in changes} == {"hooks.example.com"}
    audit_bytes = b"".join(store.get(key) for key in store.list("audit/"))
    assert secret.encode() not in audit_bytes and rotated.encode() not in audit_bytes
    assert b"key=k" not in audit_bytes  # the URL's query may hold a credential
    record = OrganizationRegistry(store).require("acme").webhook
    assert record is not None and record.secret == rotated and record.previous_secret == secret


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
