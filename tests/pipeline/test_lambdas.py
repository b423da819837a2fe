"""The Lambda handlers, invoked with recorded AWS event shapes against a real moto server.

The SQS event source mapping is played by `EventSource`: it receives from the moto queue as Lambda's
poller does, hands the handler an SQS event built from the real messages, and deletes the records
the handler did not list as failures. The queue's redrive policy is moto's own.
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gateway import lambda_api
from gateway import lambda_ingest as ingest
from gateway.tokens import issue_token
from pipeline.config import load_settings
from pipeline.governance.registry import OrganizationRegistry
from pipeline.lambdas import compactor, platform_events, rollups, writer
from pipeline.layout import curated_key, parse_raw_key, rollup_key
from pipeline.platform.dims import read_history, read_latest
from pipeline.query.tables import ROLLUPS
from pipeline.store.s3 import S3Store
from tests._fixtures import load_fixture
from tests.gateway._events import event
from translator.canonical import format_timestamp

pytestmark = pytest.mark.aws

BUCKET = "percus-data"
TOKEN_KEYS = "k2:lambda-test-secret,k1:older-secret"
MAX_RECEIVES = 5
CONTAINER_CACHES = (ingest.adapter, writer.store, compactor.store, rollups.store,
                    platform_events.registry)


@dataclass
class Stack:
    """What deploy/template.yaml creates, in moto: bucket, queue with its dead-letter queue, secret."""

    sqs: Any
    s3: Any
    queue_url: str
    dlq_url: str
    store: S3Store

    def token(self, org: str = "acme", project: str = "spring-campaign") -> str:
        return issue_token(load_settings({"PERCUS_TOKEN_KEYS": TOKEN_KEYS}).token_keys, org, project)

    def raw_events(self) -> dict[str, list[dict[str, Any]]]:
        return {key: [json.loads(line) for line in gzip.decompress(self.store.get(key)).splitlines()]
                for key in self.store.list("raw/")}

    def parquet(self, key: str) -> pa.Table:
        return pq.read_table(pa.BufferReader(self.store.get(key)))

    def queued(self, url: str) -> list[dict[str, Any]]:
        """Messages visible in a queue now (received with visibility 0, so they stay)."""
        response = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return response.get("Messages", [])


@pytest.fixture
def stack(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    dlq_url = sqs.create_queue(QueueName="percus-events-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]
    queue_url = sqs.create_queue(QueueName="percus-events", Attributes={
        "VisibilityTimeout": "60",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES}),
    })["QueueUrl"]
    secret = boto3.client("secretsmanager").create_secret(Name="percus/token-keys", SecretString=TOKEN_KEYS)
    monkeypatch.setenv("PERCUS_QUEUE", queue_url)
    monkeypatch.setenv("PERCUS_STORE", f"s3://{BUCKET}")
    monkeypatch.setenv("PERCUS_TOKEN_KEYS_SECRET", secret["ARN"])
    monkeypatch.setenv("PERCUS_DATA_DIR", str(tmp_path / "lambda-data"))
    monkeypatch.delenv("PERCUS_TOKEN_KEYS", raising=False)
    for cache in CONTAINER_CACHES:  # each test is a fresh container, with its own event loop for Mangum
        cache.cache_clear()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield Stack(sqs, s3, queue_url, dlq_url, S3Store(BUCKET, client=s3))
    for cache in CONTAINER_CACHES:
        cache.cache_clear()
    asyncio.set_event_loop(None)
    loop.close()


def http_event(body: Any, *, token: str | None, path: str = "/analytics/v1/events") -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) request, as recorded, with this body and token."""
    request = copy.deepcopy(load_fixture("aws/http-api-v2-event.json"))
    text = json.dumps(body)
    request["rawPath"] = request["requestContext"]["http"]["path"] = path
    request["body"] = text
    request["headers"]["content-length"] = str(len(text.encode()))
    request["headers"]["cloudfront-viewer-country"] = "CL"
    if token is not None:
        request["headers"]["authorization"] = f"Bearer {token}"
    return request


def scheduled_event(at: datetime) -> dict[str, Any]:
    return {**load_fixture("aws/scheduled-event.json"), "time": at.strftime("%Y-%m-%dT%H:%M:%SZ")}


def stored(org: str = "acme", **fields: Any) -> bytes:
    """A stored event as the gateway enqueues it."""
    now = format_timestamp(datetime.now(UTC))
    body = event(occurred_at=now, sent_at=now, organization_id=org, project_id="p1", received_at=now,
                 device={"type": "desktop", "os": "Linux", "browser": "Chrome"}, **fields)
    return json.dumps(body, separators=(",", ":")).encode()


class EventSource:
    """Lambda's SQS poller for a function (the writer unless told): receive, invoke, delete what the
    handler did not fail."""

    def __init__(self, stack: Stack, queue_url: str | None = None, handler: Any = writer.handler) -> None:
        self.stack, self.url, self.handler = stack, queue_url or stack.queue_url, handler
        self.template = load_fixture("aws/sqs-event.json")["Records"][0]

    def poll(self) -> tuple[int, list[str]]:
        """One batch: (records handed to the handler, their bodies listed as failures)."""
        sqs, url = self.stack.sqs, self.url
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                       MessageSystemAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return 0, []
        records = [{**self.template, "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
                    "attributes": {**self.template["attributes"], **message["Attributes"]},
                    "md5OfBody": message["MD5OfBody"]} for message in messages]
        response = self.handler({"Records": records}, None)
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        assert failed <= {message["MessageId"] for message in messages}
        done = [message for message in messages if message["MessageId"] not in failed]
        for message in done:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        # A failed record comes back after the visibility timeout; make that now.
        for message in messages:
            if message["MessageId"] in failed:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=0)
        return len(messages), [message["Body"] for message in messages if message["MessageId"] in failed]


# ingest ------------------------------------------------------------------------------------------

def test_ingest_answers_202_and_the_event_is_in_sqs(stack: Stack) -> None:
    sent = event("video.played")
    response = ingest.handler(http_event(sent, token=stack.token()), None)
    assert response["statusCode"] == 202, response
    assert json.loads(response["body"]) == {"accepted": 1, "duplicates": 0, "rejected": []}

    refused = ingest.handler(http_event(event(), token=None), None)
    assert refused["statusCode"] == 401
    assert json.loads(refused["body"])["error"]["code"]
    # One app per container: the second request reused the first one's app and queue.
    assert ingest.adapter.cache_info().misses == 1

    (message,) = stack.queued(stack.queue_url)
    queued = json.loads(message["Body"])
    assert queued["event_id"] == sent["event_id"]
    assert (queued["organization_id"], queued["project_id"]) == ("acme", "spring-campaign")
    assert queued["geo"]["country"] == "CL" and queued["received_at"]


@pytest.mark.parametrize("function", [ingest, lambda_api], ids=["ingest", "api"])
def test_no_function_runs_the_lifespan_per_invocation(stack: Stack, function: Any) -> None:
    # Mangum would otherwise start and stop the app's lifespan around every request it hands on.
    healthz = http_event(None, token=None, path="/healthz")
    healthz["requestContext"]["http"]["method"] = "GET"
    function.adapter.cache_clear()
    assert function.handler(healthz, None)["statusCode"] == 200
    app, scopes = function.adapter().app, []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope["type"])
        await app(scope, receive, send)

    function.adapter().app = recording  # what the container's Mangum hands each invocation to
    for _ in range(2):
        assert function.handler(healthz, None)["statusCode"] == 200
    assert scopes == ["http", "http"]
    function.adapter.cache_clear()


def test_ingest_refuses_to_start_without_token_keys(stack: Stack, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.delenv("PERCUS_TOKEN_KEYS_SECRET")
    with pytest.raises(RuntimeError, match="PERCUS_TOKEN_KEYS_SECRET"):
        ingest.handler(http_event(event(), token=stack.token()), None)
    assert not (tmp_path / "lambda-data").exists()  # no per-container key was generated


# writer ------------------------------------------------------------------------------------------

def test_writer_writes_raw_objects_and_poison_ends_in_the_dead_letter_queue(stack: Stack) -> None:
    good = [stored("acme"), stored("acme"), stored("globex")]
    poison = b'{"organization_id": "acme", "received_at": "yesterday"}'
    for body in [*good, poison]:
        stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body.decode())

    source = EventSource(stack)
    handed, failed = 0, []
    while handed < 4:  # SQS may deliver the four in more than one batch
        count, failures = source.poll()
        handed, failed = handed + count, failed + failures
    assert failed == [poison.decode()]

    objects = stack.raw_events()
    assert sorted(parse_raw_key(key)[0] for key in objects) == ["acme", "globex"]  # type: ignore[index]
    assert sorted(e["event_id"] for events in objects.values() for e in events) == sorted(
        json.loads(body)["event_id"] for body in good)

    receives = 1
    while stack.queued(stack.dlq_url) == []:
        count, failures = source.poll()
        if count:
            assert failures == [poison.decode()]
            receives += 1
        assert receives <= MAX_RECEIVES, "the poison message outlived the redrive policy"
    assert receives == MAX_RECEIVES
    (dead,) = stack.queued(stack.dlq_url)
    assert dead["Body"] == poison.decode()
    assert stack.queued(stack.queue_url) == []


def test_writer_reports_every_record_when_the_store_fails(stack: Stack, monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("PERCUS_STORE", "s3://no-such-bucket")
    bodies = [stored("acme"), stored("globex")]
    for body in bodies:
        stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body.decode())
    handed, failed = 0, []
    while handed < 2:
        count, failures = EventSource(stack).poll()
        handed, failed = handed + count, failed + failures
    assert sorted(failed) == sorted(body.decode() for body in bodies)
    assert len(stack.queued(stack.queue_url)) == 2  # still queued, to be retried


# platform events ---------------------------------------------------------------------------------

def test_platform_events_from_the_bus_land_in_dimensions_and_poison_in_the_dead_letter_queue(
        stack: Stack) -> None:
    sqs = stack.sqs
    dlq_url = sqs.create_queue(QueueName="percus-platform-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES})
    url = sqs.create_queue(QueueName="percus-platform",
                           Attributes={"VisibilityTimeout": "60", "RedrivePolicy": redrive})["QueueUrl"]
    created = load_fixture("aws/eventbridge-event.json")  # as the rule on the platform bus sends it
    archived = {**created, "detail-type": "ProjectArchived", "detail": {
        **{name: created["detail"][name] for name in ("organization_id", "project_id")},
        "event_id": str(uuid.uuid4()), "occurred_at": "2026-11-21T10:00:00.000Z"}}
    bare = {"event_id": str(uuid.uuid4()), "type": "OrganizationCreated",
            "occurred_at": "2026-11-01T00:00:00Z", "organization_id": "acme", "name": "Acme Pensions"}
    unknown = {**created, "detail-type": "CampaignRenamed",
               "detail": {**created["detail"], "event_id": str(uuid.uuid4())}}
    invalid = {**created, "detail": {**created["detail"], "event_id": str(uuid.uuid4()), "name": None}}
    sent = (archived, created, created, bare, unknown, invalid)
    bodies = [*(json.dumps(body) for body in sent), "{not json"]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)

    source = EventSource(stack, url, platform_events.handler)
    handed, failed = 0, []
    while handed < len(bodies):
        count, failures = source.poll()
        handed, failed = handed + count, failed + failures
    assert sorted(failed) == sorted([bodies[5], bodies[6]])
    [project] = read_latest(stack.store, "projects", "acme")
    assert (project["name"], project["archived"]) == ("Spring launch", True)  # archived later, came first
    assert len(read_history(stack.store, "projects", "acme")) == 2  # the duplicate stored once
    assert [row["type"] for row in read_history(stack.store, "unknown", "acme")] == ["CampaignRenamed"]
    assert OrganizationRegistry(stack.store).require("acme").organization_id == "acme"

    for _ in range(4 * MAX_RECEIVES):  # the two bad records, received until the redrive policy moves them
        if len(stack.queued(dlq_url)) == 2:
            break
        source.poll()
    assert sorted(message["Body"] for message in stack.queued(dlq_url)) == sorted([bodies[5], bodies[6]])


# compactor and rollups ---------------------------------------------------------------------------

def _post_and_write(stack: Stack, events: list[dict[str, Any]]) -> None:
    """Through the ingest handler and the writer handler: raw objects as production makes them."""
    response = ingest.handler(http_event({"events": events}, token=stack.token()), None)
    assert json.loads(response["body"])["accepted"] == len(events), response
    source, written = EventSource(stack), 0
    while written < len(events):
        count, failures = source.poll()
        assert failures == []
        written += count


def _session(start: datetime) -> list[dict[str, Any]]:
    """A completed view that started at `start` and is sent now (a session of yesterday was queued)."""
    session_id, sent = str(uuid.uuid4()), format_timestamp(datetime.now(UTC))
    return [event(kind, session_id=session_id, occurred_at=format_timestamp(start), sent_at=sent)
            for kind in ("session.started", "video.played", "video.completed")]


def test_compactor_turns_raw_objects_into_curated_parquet(stack: Stack) -> None:
    now = datetime.now(UTC)
    sent = _session(now)
    _post_and_write(stack, sent)
    (raw_key,) = stack.raw_events()

    first = compactor.handler(scheduled_event(now), None)
    assert first["raw_objects_read"] == 1 and first["events_in"] == 3
    assert first["partitions_written"] == 1 and first["quarantined_objects"] == []

    org, hour, _ = parse_raw_key(raw_key)  # type: ignore[misc]
    table = stack.parquet(curated_key(org, hour))
    assert sorted(table.column("event_id").to_pylist()) == sorted(e["event_id"] for e in sent)
    assert set(table.column("organization_id").to_pylist()) == {"acme"}

    again = compactor.handler(scheduled_event(now + timedelta(hours=1)), None)
    assert again["raw_objects_read"] == 0 and again["partitions_written"] == 0


def test_rollups_rebuild_yesterday_and_today(stack: Stack) -> None:
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    _post_and_write(stack, _session(now) + _session(now) + _session(yesterday))
    compactor.handler(scheduled_event(now), None)

    result = rollups.handler(scheduled_event(now), None)
    assert result["today"] == now.date().isoformat() == rollups.scheduled_day({}).isoformat()
    assert result["days_built"] == [f"acme/{yesterday:%Y-%m-%d}", f"acme/{now:%Y-%m-%d}"]
    assert result["sessions"] == 3
    for table in ROLLUPS:
        assert stack.store.get(rollup_key(table, "acme", now.date()))
    daily = stack.parquet(rollup_key("daily", "acme", now.date()))
    assert sum(daily.column("views").to_pylist()) == 2
    assert sum(daily.column("completions").to_pylist()) == 2
