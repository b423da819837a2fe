"""Rollups: layout, contents, idempotence, incremental rebuilds, and the same rollups on S3 (moto)."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import parquet
from pipeline.layout import rollup_key, rollup_state_key
from pipeline.query import Source
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.query.tables import ROLLUPS
from pipeline.reporting import reports
from pipeline.reporting.rollups import build_rollups
from pipeline.reporting.selection import Selection
from pipeline.store.base import Store
from pipeline.store.local import LocalStore
from pipeline.store.s3 import S3Store
from tests.pipeline._sessions import DAY1, Session, ingest, known_sessions

D0, D1, D2, D3 = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26)
TODAY = date(2026, 11, 30)


def read(store: Store, table: str, org: str, day: date) -> pa.Table:
    return pq.read_table(io.BytesIO(store.get(rollup_key(table, org, day))))


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "data")
    sessions, duplicates = known_sessions()
    ingest(store, sessions, duplicates)
    return store


def test_daily_rollup_rows_are_additive_counts_per_project_template_and_bot_flag(store: LocalStore) -> None:
    build_rollups(store, day=D1)
    daily = read(store, "daily", "acme", D1).to_pylist()
    assert [(row["project_id"], row["template_id"], row["is_bot"], row["views"], row["plays"],
             row["completions"]) for row in daily] == [
        ("p1", "t1", False, 7, 5, 2), ("p1", "t1", True, 1, 1, 1), ("p2", "t2", False, 1, 1, 1)]
    assert read(store, "daily", "acme", D1).schema == ROLLUPS["daily"].schema
    viewers = read(store, "viewers", "acme", D1)
    assert viewers.num_rows == 9
    assert viewers.column_names == ["project_id", "template_id", "is_bot", "viewer_hash", "viewer_key"]
    # The key unique viewers count: the number of the hash's last 30 hex digits (120 bits).
    assert [row["viewer_key"] for row in viewers.to_pylist()] == [
        int(row["viewer_hash"][-30:], 16) for row in viewers.to_pylist()]
    errors = read(store, "errors", "acme", D1).to_pylist()
    assert sorted((row["error_code"], row["errors"]) for row in errors) == [
        ("MEDIA_ERR_DECODE", 1), ("MEDIA_ERR_NETWORK", 2)]
    breakdown = read(store, "breakdown", "acme", D1).to_pylist()
    assert {row["dimension"] for row in breakdown} == {"device_type", "os", "browser", "locale", "country"}
    # Every breakdown dimension partitions the same sessions.
    for dimension in ("device_type", "os", "browser", "locale", "country"):
        assert sum(row["views"] for row in breakdown if dimension == row["dimension"]) == 9
    # Day 2 holds only S10: S8's events after midnight belong to day 1, where S8 started.
    build_rollups(store, day=D2)
    assert [row["views"] for row in read(store, "daily", "acme", D2).to_pylist()] == [1]


def test_rebuilding_is_idempotent(store: LocalStore) -> None:
    build_rollups(store, day=D1)
    first = {name: store.get(rollup_key(name, "acme", D1)) for name in ROLLUPS}
    build_rollups(store, day=D1)
    assert {name: store.get(rollup_key(name, "acme", D1)) for name in ROLLUPS} == first


def test_a_run_without_a_day_builds_closed_days_whose_inputs_changed(store: LocalStore) -> None:
    report = build_rollups(store, today=D3)  # closed: up to D1 (D2's curated window is not over)
    assert report.days_built == [("acme", D0), ("acme", D1), ("globex", D0), ("globex", D1)]
    assert store.get(rollup_state_key("acme", D1))
    assert not list(store.list(rollup_key("daily", "acme", D0)))  # no data dated D0: nothing written

    again = build_rollups(store, today=TODAY)
    assert again.days_built == [("acme", D2), ("acme", D3), ("globex", D2)]
    assert again.days_fresh == 4
    assert build_rollups(store, today=TODAY).days_built == []
    store.delete(rollup_key("daily", "globex", D1))  # a lost rollup is rebuilt
    assert build_rollups(store, today=TODAY).days_built == [("globex", D1)]

    # A late delivery: S2 (day 1) completes, received hours later; compaction rewrites day 1.
    engine = DuckDbEngine(store)
    before = reports.summary(engine, "acme", Selection(date_from=D1, date_to=D1), today=TODAY)
    late = Session(DAY1 + timedelta(hours=10, minutes=5), session_id=_session_of(store, "en-US"))
    late.at(20, "video.completed", received_after=3 * 3600, duration_ms=30_000, percent=100)
    ingest(store, [late])
    rebuilt = build_rollups(store, today=TODAY, org="acme")
    assert rebuilt.days_built == [("acme", D0), ("acme", D1), ("acme", D2)]  # every window holding day 1
    after = reports.summary(engine, "acme", Selection(date_from=D1, date_to=D1), today=TODAY)
    assert after["completions"] == before["completions"] + 1 and after["views"] == before["views"]


def _session_of(store: LocalStore, locale: str) -> str:
    rows = DuckDbEngine(store).query("SELECT DISTINCT session_id FROM curated WHERE locale = :locale",
                                     org="acme", sources=[Source("curated", (D1,))],
                                     params={"locale": locale})
    (row,) = rows
    return row["session_id"]


def test_rollups_outlive_the_curated_data_they_came_from(store: LocalStore) -> None:
    build_rollups(store, today=TODAY)
    engine = DuckDbEngine(store)
    before = reports.summary(engine, "acme", Selection(date_from=D1, date_to=D2), today=TODAY)
    for key in list(store.list("curated/org=acme/year=2026/month=11/day=24/")):
        store.delete(key)  # retention removed day 1's curated files (and its compactor state)
    for key in list(store.list("state/compactor/org=acme/date=2026-11-24/")):
        store.delete(key)
    report = build_rollups(store, today=TODAY)
    assert ("acme", D1) not in report.days_built
    assert reports.summary(engine, "acme", Selection(date_from=D1, date_to=D2), today=TODAY) == before


def test_a_day_rolled_up_by_an_earlier_version_is_read_from_curated_until_rebuilt(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "data")
    ingest(store, *known_sessions())
    build_rollups(store, today=TODAY)
    selection = Selection(date_from=D1, date_to=D2)
    expected = reports.summary(DuckDbEngine(store), "acme", selection, today=TODAY)
    # As an upgrade finds it: D1's record and files from version 2, whose viewers had no viewer_key.
    record = json.loads(store.get(rollup_state_key("acme", D1)))
    store.put(rollup_state_key("acme", D1), json.dumps({**record, "version": 2, "inputs": "v2"}).encode())
    viewers = read(store, "viewers", "acme", D1).drop_columns(["viewer_key"])
    store.put(rollup_key("viewers", "acme", D1), parquet.to_bytes(viewers))
    upgraded = LocalStore(tmp_path / "data")  # a process started after the upgrade

    assert reports.plan(DuckDbEngine(upgraded), "acme", D1, D2, today=TODAY).rolled == (D2,)
    assert reports.summary(DuckDbEngine(upgraded), "acme", selection, today=TODAY) == expected
    assert ("acme", D1) in build_rollups(upgraded, today=TODAY).days_built  # the next run rebuilds it
    assert reports.plan(DuckDbEngine(upgraded), "acme", D1, D2, today=TODAY).rolled == (D1, D2)
    assert reports.summary(DuckDbEngine(upgraded), "acme", selection, today=TODAY) == expected


def test_a_day_without_curated_data_is_left_alone(store: LocalStore) -> None:
    report = build_rollups(store, day=date(2025, 1, 1))
    assert report.days_without_data == [("acme", date(2025, 1, 1)), ("globex", date(2025, 1, 1))]
    assert not list(store.list("rollups/"))


def test_progress_is_reported_per_day(store: LocalStore) -> None:
    seen: list[tuple[int, int]] = []
    build_rollups(store, today=TODAY, org="globex",
                  progress=lambda done, total, _: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.aws
def test_rollups_on_s3_equal_the_local_ones(aws: str, tmp_path: Path) -> None:
    boto3.client("s3").create_bucket(Bucket="percus-analytics")
    s3 = S3Store("percus-analytics", "env/test")
    local = LocalStore(tmp_path / "data")
    sessions, duplicates = known_sessions()
    for store in (s3, local):
        ingest(store, sessions, duplicates)
        build_rollups(store, day=D1, org="acme")
    for name in ROLLUPS:
        assert read(s3, name, "acme", D1) == read(local, name, "acme", D1)
