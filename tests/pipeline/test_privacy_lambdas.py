"""The DSAR and retention jobs on AWS: run by the compactor's function (the single writer of curated/)
against a real moto server, with the viewer keys from Secrets Manager."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest

from pipeline.curated.compactor import compact
from pipeline.governance import audit
from pipeline.governance.registry import OrganizationRegistry
from pipeline.governance.viewer_keys import ViewerKeys
from pipeline.lambdas import compactor, dsar, retention
from pipeline.layout import curated_key, raw_key
from pipeline.reporting.rollups import build_rollups
from pipeline.store.s3 import S3Store
from tests.pipeline._sessions import DAY1, Session, write_raw

pytestmark = pytest.mark.aws

BUCKET = "percus-privacy"
VIEWER_KEYS = "v2:lambda-viewer-key,v1:older"
CLIENT = "a1" * 32
CACHES = (dsar.store, dsar.keys, retention.store, compactor.store)


@dataclass
class Context:
    function_name: str = "percus-CompactorFunction"


@pytest.fixture
def store(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Store]:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    secret = boto3.client("secretsmanager").create_secret(Name="percus/viewer-keys", SecretString=VIEWER_KEYS)
    monkeypatch.setenv("PERCUS_STORE", f"s3://{BUCKET}")
    monkeypatch.setenv("PERCUS_VIEWER_KEYS_SECRET", secret["ARN"])
    monkeypatch.delenv("PERCUS_VIEWER_KEYS", raising=False)
    for cache in CACHES:  # each test is a fresh container
        cache.cache_clear()
    yield S3Store(BUCKET, client=s3)
    for cache in CACHES:
        cache.cache_clear()


def viewers(store: S3Store, org: str) -> list[Any]:
    return sorted(row["viewer_hash"] or "-" for key in store.list(f"curated/org={org}/")
                  for row in pq.read_table(io.BytesIO(store.get(key))).to_pylist())


def test_a_dsar_request_runs_in_the_compactor_function(store: S3Store) -> None:
    keyed = ViewerKeys.parse(VIEWER_KEYS).keyed(CLIENT)
    sessions = [Session(DAY1, viewer_hash=keyed).at(0, "session.started").at(1, "autoplay.failed"),
                Session(DAY1, viewer_hash="b2" * 32).at(0, "session.started"),
                Session(DAY1, org="globex", viewer_hash=keyed).at(0, "session.started")]
    write_raw(store, [event for session in sessions for event in session.events])
    compact(store)
    build_rollups(store, day=DAY1.date())
    result = compactor.handler({"job": "dsar", "organization_id": "acme", "viewer_hash": CLIENT}, Context())
    assert result["curated_rows_removed"] == 2 and result["raw_lines_removed"] == 2
    assert result["rollup_days_rebuilt"] == [DAY1.date().isoformat()]
    assert CLIENT not in str(result) and keyed not in str(result)
    assert viewers(store, "acme") == ["b2" * 32]
    assert viewers(store, "globex") == [keyed]  # another organization: untouched
    (record,) = audit.list_records(store, action="dsar")
    assert record["actor"] == "lambda:percus-CompactorFunction"
    with pytest.raises(ValueError, match="unknown job"):
        compactor.handler({"job": "nope"}, Context())


def test_the_retention_job_applies_only_the_overrides(store: S3Store) -> None:
    registry = OrganizationRegistry(store)
    registry.create("acme")
    registry.create("globex", retention_days=30)
    old = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0) - timedelta(days=400)
    keys = {org: [raw_key(org, old, "b"), curated_key(org, old)] for org in ("acme", "globex")}
    for org_keys in keys.values():
        for key in org_keys:
            store.put(key, b"x")
    result = compactor.handler({"job": "retention"}, Context())  # the schedule's Input
    assert result["objects_deleted"] == 2
    present = set(store.list(""))
    assert set(keys["acme"]) <= present  # the lifecycle rules' business, not this job's
    assert not set(keys["globex"]) & present
