"""The AWS path end to end against moto server: gateway → SQS → raw writer → S3 → compactor → reports.

Athena runs no SQL on moto, so the reports run the same logical queries on the DuckDB engine, which
reads the curated objects through the S3 store.
"""

from __future__ import annotations

import gzip
import io
import uuid

import boto3
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.middleware.rate_limit import RateLimits
from gateway.tokens import issue_token
from pipeline.backends import open_queue, open_store
from pipeline.config import load_settings
from pipeline.curated.compactor import compact
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.raw.rawfile import decode
from pipeline.raw.writer import drain_batch
from pipeline.reporting import reports
from tests._known_posts import EXPECTED, UNIQUE_EVENTS, known_posts

pytestmark = pytest.mark.aws

CLIENT_IP = "198.51.100.77"
USER_AGENT = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) " \
             "Chrome/131.0.0.0 Mobile Safari/537.36 PercusPrivacyProbe/9.9"


def test_events_flow_from_http_through_sqs_into_s3_raw_and_curated_without_pii(aws: str) -> None:
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    queue_url = sqs.create_queue(QueueName="percus-events")["QueueUrl"]
    s3.create_bucket(Bucket="percus-analytics")
    settings = load_settings({"PERCUS_QUEUE": queue_url, "PERCUS_STORE": "s3://percus-analytics/v1",
                              "PERCUS_TOKEN_KEYS": "k1:aws-path-secret", "PERCUS_DATA_DIR": "/nonexistent"})
    queue, store = open_queue(settings), open_store(settings)
    tokens = {org: issue_token(settings.token_keys, org, "p1") for org in ("acme", "globex")}
    sent: dict[str, list[str]] = {"acme": [], "globex": []}

    with TestClient(create_app(settings, queue, rate_limits=RateLimits())) as client:
        for org, token in tokens.items():
            session = str(uuid.uuid4())
            events = [{"event_id": str(uuid.uuid4()), "schema_version": "1", "event_type": "video.progressed",
                       "occurred_at": "2026-11-25T10:00:00.000Z", "session_id": session,
                       "organization_id": "globex" if org == "acme" else "acme",  # must be overwritten
                       "consent": {"tracking": True}, "payload": {"position_ms": i, "percent": 25}}
                      for i in range(25)]
            answer = client.post("/analytics/v1/events", json={"events": events},
                                 headers={"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT,
                                          "X-Forwarded-For": CLIENT_IP,
                                          "Referer": "https://bank.example/simulate?rut=12345678-9"})
            assert answer.json() == {"accepted": 25, "duplicates": 0, "rejected": []}
            sent[org] = [e["event_id"] for e in events]

    result = drain_batch(queue, store, max_wait=3.0)
    assert result.events_written == 50

    raw_keys = list(store.list("raw/"))
    assert {key.split("/")[1] for key in raw_keys} == {"org=acme", "org=globex"}
    for key in raw_keys:
        org = key.split("/")[1].removeprefix("org=")
        lines = list(decode(store.get(key)))
        assert sorted(e["event_id"] for e in lines) == sorted(sent[org])
        assert {e["organization_id"] for e in lines} == {org}
        assert {e["device"]["type"] for e in lines} == {"mobile"}
        assert {e["referrer_host"] for e in lines} == {"bank.example"}
    assert sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages") is None

    report = compact(store)
    assert report.events_in == 50 and report.duplicates_dropped == 0
    curated = list(store.list("curated/"))
    rows = sum(pq.read_table(io.BytesIO(store.get(key))).num_rows for key in curated)
    assert rows == 50

    # Every byte the pipeline stored: no client address, no User-Agent, no referrer path or query.
    bucket = s3.list_objects_v2(Bucket="percus-analytics")["Contents"]
    for obj in bucket:
        data = s3.get_object(Bucket="percus-analytics", Key=obj["Key"])["Body"].read()
        text = readable(obj["Key"], data)
        for secret in (CLIENT_IP, "PercusPrivacyProbe", "Pixel 8", "12345678-9", "simulate"):
            assert secret.encode() not in text, f"{secret!r} stored in {obj['Key']}"


def test_known_posts_through_sqs_and_s3_give_the_exact_metrics(aws: str) -> None:
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    queue_url = sqs.create_queue(QueueName="percus-known")["QueueUrl"]
    s3.create_bucket(Bucket="percus-known")
    settings = load_settings({"PERCUS_QUEUE": queue_url, "PERCUS_STORE": "s3://percus-known",
                              "PERCUS_TOKEN_KEYS": "k1:aws-path-secret", "PERCUS_DATA_DIR": "/nonexistent"})
    queue, store = open_queue(settings), open_store(settings)
    token = issue_token(settings.token_keys, "acme", "p1")
    posts = known_posts()
    assert posts.resent is not None

    def post(client: TestClient, user_agent: str, batch: list[dict[str, object]]) -> dict[str, object]:
        answer = client.post("/analytics/v1/events", json={"events": batch},
                             headers={"Authorization": f"Bearer {token}", "User-Agent": user_agent})
        assert answer.status_code == 202 and answer.json()["rejected"] == [], answer.text
        return answer.json()  # type: ignore[no-any-return]

    with TestClient(create_app(settings, queue, rate_limits=RateLimits())) as client:
        for user_agent, batch in posts.first:
            post(client, user_agent, batch)
        assert post(client, *posts.resent)["duplicates"] == 1
    while drain_batch(queue, store, max_wait=1.0).received:
        pass
    assert compact(store).events_in == UNIQUE_EVENTS - 1
    # Late: a new gateway (nothing remembered) takes the late click and a resend already compacted.
    with TestClient(create_app(settings, queue, rate_limits=RateLimits())) as client:
        for user_agent, batch in posts.late:
            post(client, user_agent, batch)
    while drain_batch(queue, store, max_wait=1.0).received:
        pass
    assert compact(store).duplicates_dropped == 1

    summary = reports.summary(DuckDbEngine(store), "acme")
    assert {key: summary[key] for key in EXPECTED} == EXPECTED
    rows = [row for key in store.list("curated/")
            for row in pq.read_table(io.BytesIO(store.get(key))).to_pylist()]
    assert len(rows) == len({row["event_id"] for row in rows}) == UNIQUE_EVENTS


def readable(key: str, data: bytes) -> bytes:
    """Stored bytes as a scanner must see them: compressed formats opened, the rest as is."""
    if key.endswith(".parquet"):
        return repr(pq.read_table(io.BytesIO(data)).to_pylist()).encode()
    try:
        return gzip.decompress(data)
    except OSError:
        return data
