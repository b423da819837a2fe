"""Retention: exactly the expired partitions go, per zone and per organization override; the pipeline
keeps working around what is gone; every deletion is audited; `percus serve` runs it hourly."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from percus.background import RETENTION_RUN, retention_step
from pipeline.curated.compactor import CompactionBusy, compact, curated_lock
from pipeline.governance import audit
from pipeline.governance.registry import OrganizationRegistry
from pipeline.governance.retention import apply_retention
from pipeline.layout import AUDIENCES, OUTCOMES, curated_key, dated_key, raw_key, rollup_key, rollup_state_key
from pipeline.reporting.rollups import build_rollups
from pipeline.store.local import LocalStore
from tests.pipeline._sessions import DAY1, ingest, known_sessions

TODAY = date(2026, 11, 30)
# Zone defaults, written out here rather than read from the code under test.
RAW, QUARANTINE, CURATED, ROLLUPS, EXPORTS = 30, 30, 730, 1825, 2


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour)


def partitions(store: LocalStore, org: str, day: date) -> dict[str, str]:
    """One object of every zone for (org, day), by zone; the keys are the layout's."""
    keys = {
        "raw": raw_key(org, at(day), "batch"),
        "quarantine": "quarantine/" + raw_key(org, at(day, 3), "bad"),
        "curated": curated_key(org, at(day)),
        "compactor": f"state/compactor/org={org}/date={day:%Y-%m-%d}/manifest.json",
        "viewers": rollup_key("viewers", org, day),
        "daily": rollup_key("daily", org, day),
        "rollup_record": rollup_state_key(org, day),
        "export": f"exports/org={org}/{day:%Y%m%d}T101010Z-0123456789abcdef.csv",
    }
    for key in keys.values():
        store.put(key, b"x")
    return keys


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "bucket")


def ages(store: LocalStore, orgs: list[str], days_ago: list[int]) -> dict[tuple[str, int], dict[str, str]]:
    return {(org, age): partitions(store, org, TODAY - timedelta(days=age))
            for org in orgs for age in days_ago}


def kept(store: LocalStore, placed: dict[tuple[str, int], dict[str, str]]) -> dict[tuple[str, int], set[str]]:
    present = set(store.list(""))
    return {where: {zone for zone, key in keys.items() if key in present} for where, keys in placed.items()}


ALL = {"raw", "quarantine", "curated", "compactor", "viewers", "daily", "rollup_record", "export"}


def test_zone_defaults_delete_exactly_the_days_past_them(store: LocalStore) -> None:
    registry = OrganizationRegistry(store)
    registry.create("acme")
    placed = ages(store, ["acme"], [0, EXPORTS, EXPORTS + 1, RAW, RAW + 1, CURATED, CURATED + 1, ROLLUPS,
                                   ROLLUPS + 1])
    untouched = {"config/organizations/acme.json": store.get("config/organizations/acme.json")}
    report = apply_retention(store, registry, today=TODAY)
    assert kept(store, placed) == {
        ("acme", 0): ALL, ("acme", EXPORTS): ALL,
        ("acme", EXPORTS + 1): ALL - {"export"},
        ("acme", RAW): ALL - {"export"},
        ("acme", RAW + 1): ALL - {"export", "raw", "quarantine"},
        ("acme", CURATED): ALL - {"export", "raw", "quarantine"},
        ("acme", CURATED + 1): {"viewers", "daily", "rollup_record"},
        ("acme", ROLLUPS): {"viewers", "daily", "rollup_record"},
        ("acme", ROLLUPS + 1): set(),
    }
    assert all(store.get(key) == data for key, data in untouched.items())
    assert report.days_deleted["raw"]["acme"] == [TODAY - timedelta(days=age) for age in
                                                  (ROLLUPS + 1, ROLLUPS, CURATED + 1, CURATED, RAW + 1)]
    assert report.objects_deleted == sum(len(ALL - zones) for zones in kept(store, placed).values())
    # Running it again the same day finds nothing.
    assert apply_retention(store, registry, today=TODAY).objects_deleted == 0


def test_an_override_caps_the_viewer_level_zones_of_that_organization_only(store: LocalStore) -> None:
    registry = OrganizationRegistry(store)
    registry.create("acme")
    registry.create("globex", retention_days=90)
    registry.create("initech", retention_days=10)
    placed = ages(store, ["acme", "globex", "initech"], [10, 11, 90, 91])
    apply_retention(store, registry, today=TODAY)
    aggregate = {"daily", "rollup_record"}
    assert kept(store, placed) == {
        # The default: raw and quarantine past 30 days, exports past 2.
        ("acme", 10): ALL - {"export"}, ("acme", 11): ALL - {"export"},
        ("acme", 90): ALL - {"export", "raw", "quarantine"},
        ("acme", 91): ALL - {"export", "raw", "quarantine"},
        # 90 days: raw still goes at 30 (an override never extends a zone), curated and viewers at 90.
        ("globex", 10): ALL - {"export"}, ("globex", 11): ALL - {"export"},
        ("globex", 90): ALL - {"export", "raw", "quarantine"}, ("globex", 91): aggregate,
        # 10 days: every viewer-level zone at 10; the aggregate rollups keep their 5 years.
        ("initech", 10): ALL - {"export"}, ("initech", 11): aggregate,
        ("initech", 90): aggregate, ("initech", 91): aggregate,
    }


def test_on_aws_only_the_overrides_are_applied(store: LocalStore) -> None:
    registry = OrganizationRegistry(store)
    registry.create("acme")
    registry.create("globex", retention_days=90)
    placed = ages(store, ["acme", "globex"], [91, 3000])
    apply_retention(store, registry, today=TODAY, defaults=False)  # lifecycle rules do the defaults
    assert kept(store, placed) == {
        ("acme", 91): ALL, ("acme", 3000): ALL,
        ("globex", 91): {"daily", "rollup_record", "export"},
        ("globex", 3000): {"daily", "rollup_record", "export"},
    }


def test_every_deletion_is_audited_per_organization_and_zone(store: LocalStore) -> None:
    registry = OrganizationRegistry(store)
    registry.create("globex", retention_days=90)
    ages(store, ["acme", "globex"], [91, 92])
    apply_retention(store, registry, today=TODAY, actor="cli:ops")
    records = list(audit.list_records(store, action="retention"))
    assert all(record["actor"] == "cli:ops" for record in records)
    by_scope = {(r["scope"]["organization_id"], r["scope"]["zone"]): r["details"] for r in records}
    days = [(TODAY - timedelta(days=age)).isoformat() for age in (92, 91)]
    assert by_scope[("globex", "curated")] == {"retention_days": 90, "override": True, "days": days,
                                               "objects_deleted": 4}  # files and compactor state
    assert by_scope[("globex", "viewers")]["objects_deleted"] == 2
    assert by_scope[("acme", "raw")] == {"retention_days": RAW, "override": False, "days": days,
                                         "objects_deleted": 2}
    assert ("acme", "curated") not in by_scope and ("globex", "rollups") not in by_scope
    assert not list(audit.list_records(store, action="retention", org="initech"))


def test_it_waits_for_or_refuses_a_running_compaction(store: LocalStore) -> None:
    placed = ages(store, ["acme"], [RAW + 1])
    with curated_lock(store), pytest.raises(CompactionBusy):
        apply_retention(store, OrganizationRegistry(store), today=TODAY, wait=False)
    assert kept(store, placed) == {("acme", RAW + 1): ALL}


def test_the_pipeline_carries_on_around_what_retention_took(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    sessions, duplicates = known_sessions()
    ingest(store, sessions, duplicates)
    day1 = DAY1.date()
    build_rollups(store, day=day1)
    curated_before = {key: store.get(key) for key in store.list("curated/")}
    registry = OrganizationRegistry(store)
    # Past the raw retention: raw goes, and the compactor does not take anything in again.
    apply_retention(store, registry, today=day1 + timedelta(days=RAW + 3))
    assert not list(store.list("raw/"))
    assert compact(store).raw_objects_read == 0
    assert {key: store.get(key) for key in store.list("curated/")} == curated_before
    # Past the curated retention: curated and its compactor state go, the rollups stay, and a rollup
    # run does not rebuild the days it can no longer read whole.
    daily = store.get(rollup_key("daily", "acme", day1))
    later = day1 + timedelta(days=CURATED + 3)
    apply_retention(store, registry, today=later)
    assert not list(store.list("curated/")) and not list(store.list("state/compactor/"))
    assert build_rollups(store, today=later).days_built == []
    assert store.get(rollup_key("daily", "acme", day1)) == daily


def test_serve_runs_it_at_most_hourly(store: LocalStore) -> None:
    old = date.today() - timedelta(days=4000)
    first = partitions(store, "acme", old)
    retention_step(store)
    assert not set(first.values()) & set(store.list(""))
    second = partitions(store, "acme", old - timedelta(days=1))
    retention_step(store)  # within the hour: skipped
    assert set(second.values()) <= set(store.list(""))
    ran = datetime.now(UTC) - timedelta(hours=1, minutes=1)
    store.put(RETENTION_RUN, json.dumps({"at": ran.isoformat()}).encode())
    retention_step(store)
    assert not set(second.values()) & set(store.list(""))
    assert {record["actor"] for record in audit.list_records(store, action="retention")} == {"serve"}


def test_outcomes_and_audiences_are_viewer_level_zones(store: LocalStore) -> None:
    registry = OrganizationRegistry(store)
    registry.create("acme")
    registry.create("globex", retention_days=90)

    def place(org: str, age: int) -> list[str]:
        day = TODAY - timedelta(days=age)
        keys = [dated_key(OUTCOMES, org, day, "batch"), dated_key(AUDIENCES, org, day, "batch")]
        for key in keys:
            store.put(key, b"x")
        return keys

    placed = {(org, age): place(org, age) for org in ("acme", "globex") for age in (90, 91, CURATED,
                                                                                   CURATED + 1)}
    apply_retention(store, registry, today=TODAY, actor="cli:ops")
    present = set(store.list(""))
    assert {where for where, keys in placed.items() if all(key in present for key in keys)} == {
        ("acme", 90), ("acme", 91), ("acme", CURATED), ("globex", 90)}
    by_scope = {(r["scope"]["organization_id"], r["scope"]["zone"]): r["details"]["objects_deleted"]
                for r in audit.list_records(store, action="retention")}
    assert by_scope == {("acme", "outcomes"): 1, ("acme", "audiences"): 1, ("globex", "outcomes"): 3,
                        ("globex", "audiences"): 3}
