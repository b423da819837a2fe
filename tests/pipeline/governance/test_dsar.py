"""DSAR deletion: exactly one viewer's events of one organization leave raw, quarantine, curated, the
compactor's index and the rollups; nothing else changes; crashes midway and later compactions do not
change the outcome; the request works from the hash the client computes.

The reference for "exactly" is a second store that never received the viewer's events, built by
the same real compactor and rollups.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
import zlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipeline.curated.compactor import CompactionBusy, compact, curated_lock
from pipeline.governance import audit
from pipeline.governance.dsar import JOB_PREFIX, delete_viewer, request_id
from pipeline.governance.viewer_keys import ViewerKeys, keyed_viewer_hash
from pipeline.layout import raw_key, rollup_key
from pipeline.outcomes.intake import add_members, audience_members, store_outcomes
from pipeline.outcomes.rows import Outcome, parse_outcome
from pipeline.query.tables import ROLLUPS
from pipeline.raw import rawfile
from pipeline.reporting.rollups import build_rollups
from pipeline.store.base import Store
from pipeline.store.local import LocalStore
from tests.pipeline._crashing_store import Crash, CrashingStore
from tests.pipeline._sessions import DAY1, DAY2, Session, write_raw

REPO = Path(__file__).resolve().parents[3]
KEYS = ViewerKeys.parse("v2:current-viewer-key,v1:older-viewer-key")
CLIENT = "c0ffee" + "0" * 58  # what the SDK computes for the viewer who asks
OTHER_CLIENT = "beef" + "1" * 60
CURRENT = KEYS.keyed(CLIENT)
OLDER = keyed_viewer_hash(b"older-viewer-key", CLIENT)  # stored before the last key rotation
DAYS = [DAY1.date() + timedelta(days=n) for n in range(-1, 3)]


def sessions() -> tuple[list[Session], list[Session]]:
    """(the asking viewer's sessions, everyone else's), in acme and globex."""
    at = DAY1 + timedelta(hours=10)
    played, end = {"position_ms": 0}, {"duration_ms": 30_000, "percent": 100}
    target = [
        # Shares its raw object and curated hour with another viewer's session.
        Session(at, viewer_hash=CURRENT).at(0, "session.started").at(1, "video.played", **played)
        .at(31, "video.completed", **end).at(32, "cta.clicked", cta_id="buy"),
        # Stored under the previous key, and in an hour of its own.
        Session(at + timedelta(hours=3), viewer_hash=OLDER).at(0, "session.started"),
        # Stored before keyed ids: the client hash itself.
        Session(DAY2 + timedelta(hours=9), viewer_hash=CLIENT).at(0, "session.started")
        .at(1, "video.played", **played),
        # Across midnight: received on two curated days.
        Session(DAY2 - timedelta(seconds=20), viewer_hash=CURRENT).at(0, "session.started")
        .at(40, "video.played", **played),
    ]
    others = [
        Session(at + timedelta(minutes=5), viewer_hash=KEYS.keyed(OTHER_CLIENT)).at(0, "session.started")
        .at(1, "video.played", **played).at(20, "video.incomplete", duration_ms=30_000, percent=60),
        Session(at + timedelta(hours=3, minutes=1)).at(0, "session.started")
        .at(2, "cta.clicked", cta_id="buy"),
        Session(DAY2 + timedelta(hours=9, minutes=30)).at(0, "session.started"),
        Session(at + timedelta(hours=1), consent=False)
        .at(0, "video.errored", error_code="MEDIA_ERR_NETWORK"),
        # Another organization holding the very same stored values: never touched.
        Session(at, org="globex", viewer_hash=CURRENT).at(0, "session.started")
        .at(1, "video.played", **played),
        Session(DAY2 + timedelta(hours=9), org="globex", viewer_hash=CLIENT).at(0, "session.started"),
    ]
    return target, others


def events(group: Iterable[Session]) -> list[dict[str, Any]]:
    return [event for session in group for event in session.events]


def build(store: Store, group: list[dict[str, Any]], late: list[dict[str, Any]] = ()) -> None:
    """Raw objects, compacted, rolled up; then `late` raw objects the compactor has not seen yet."""
    write_raw(store, group)
    compact(store)
    for day in DAYS:
        build_rollups(store, day=day)
    if late:
        write_raw(store, list(late))


def snapshot(store: LocalStore, prefix: str = "") -> dict[str, bytes]:
    return {key: store.get(key) for key in store.list(prefix)}


def parquet_rows(data: bytes) -> list[dict[str, Any]]:
    return pq.read_table(io.BytesIO(data)).to_pylist()


def curated_rows(store: Store, org: str) -> list[dict[str, Any]]:
    rows = [row for key in store.list(f"curated/org={org}/") for row in parquet_rows(store.get(key))]
    return sorted(rows, key=lambda row: row["event_id"])


def raw_lines(store: Store, prefix: str) -> list[bytes]:
    return sorted(line for key in store.list(prefix) for line in gzip.decompress(store.get(key)).splitlines())


def index_rows(store: Store, org: str) -> list[tuple[Any, ...]]:
    rows = [tuple(row.values()) for key in store.list(f"state/compactor/org={org}/")
            if key.endswith("ids.parquet") for row in parquet_rows(store.get(key))]
    return sorted(rows, key=lambda row: (row[1], row[0]))


def rollups(store: Store, org: str) -> dict[str, list[dict[str, Any]]]:
    return {key: sorted(parquet_rows(store.get(key)), key=lambda row: json.dumps(row, default=str))
            for key in store.list("rollups/") if f"/org={org}/" in key}  # default: viewer_key, a Decimal


def outcome(store: Store) -> dict[str, Any]:
    """What DSAR must get exactly right, in comparable form."""
    return {"curated": curated_rows(store, "acme"), "raw": raw_lines(store, "raw/org=acme/"),
            "index": index_rows(store, "acme"), "rollups": rollups(store, "acme")}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict[str, Any]]]:
    """A store with everyone's events (plus late raw objects not compacted yet), and the reference
    store that never had the asking viewer's; built once, copied per test."""
    target, others = sessions()
    late_target = Session(DAY2 + timedelta(hours=11), viewer_hash=CURRENT).at(0, "session.started")
    late_other = Session(DAY2 + timedelta(hours=11, minutes=2)).at(0, "session.started")
    root = tmp_path_factory.mktemp("dsar")
    full, reference = LocalStore(root / "full"), LocalStore(root / "reference")
    build(full, events(target + others), events([late_target, late_other]))
    build(reference, events(others), events([late_other]))
    return full.root, reference.root, events(target)


@pytest.fixture
def store(built: tuple[Path, Path, list[dict[str, Any]]], tmp_path: Path) -> LocalStore:
    return LocalStore(Path(shutil.copytree(built[0], tmp_path / "store")))


@pytest.fixture
def reference(built: tuple[Path, Path, list[dict[str, Any]]], tmp_path: Path) -> LocalStore:
    return LocalStore(Path(shutil.copytree(built[1], tmp_path / "reference")))


def test_removes_exactly_the_viewers_events_of_that_organization(store: LocalStore, reference: LocalStore
                                                                 ) -> None:
    before = snapshot(store)
    report = delete_viewer(store, "acme", CLIENT, keys=KEYS)

    # Compacted later, the late raw objects bring only the other viewer in.
    compact(store)
    compact(reference)
    assert outcome(store) == outcome(reference)
    assert report.count("curated") == 9 and report.count("raw") == 10  # + the late object's event
    assert report.rollup_days_rebuilt == [DAY1.date(), DAY2.date()]
    # Another organization with the same stored values: every byte as it was.
    for prefix in ("raw/org=globex/", "curated/org=globex/", "state/compactor/org=globex/",
                   "rollups/daily/org=globex/", "rollups/viewers/org=globex/"):
        assert snapshot(store, prefix) == {k: v for k, v in before.items() if k.startswith(prefix)}
    # Objects that never held the viewer are not rewritten.
    untouched = [key for key in before if key.startswith(("raw/org=acme/", "curated/org=acme/"))
                 and key not in report.removed]
    assert untouched and all(store.get(key) == before[key] for key in untouched)
    # No stored form of the viewer is left in the organization's data, in any zone.
    for key in store.list(""):
        data = store.get(key)
        text = gzip.decompress(data) if key.endswith(".gz") else data
        if "org=acme" in key and key.endswith((".gz", ".parquet")):
            for form in (CURRENT, OLDER, CLIENT):
                assert form.encode() not in text, (key, form)
    assert not list(store.list(JOB_PREFIX))


def test_objects_left_empty_are_deleted_and_shared_ones_rewritten(store: LocalStore) -> None:
    report = delete_viewer(store, "acme", CLIENT, keys=KEYS)
    # The session across midnight had the hours 23:00 and 00:00 to itself; 10:00 and 13:00 of day 1
    # and 09:00 and 11:00 (late) of day 2 are shared with other viewers.
    only_target = ("day=24/23.parquet", "day=25/00.parquet", "day=24/hour=23/", "day=25/hour=00/")
    assert set(report.deleted) == {key for key in report.removed if any(part in key for part in only_target)}
    assert len(report.deleted) == 4
    assert not set(report.deleted) & set(store.list(""))
    shared = set(report.removed) - set(report.deleted) - set(store.list("rollups/"))
    assert len(shared) == 3 + 4  # curated 10:00, 13:00, 09:00; raw the same and the late object
    assert all(key in set(store.list("")) for key in shared)


def test_the_audit_record_names_what_was_rewritten_and_no_viewer_hash(store: LocalStore) -> None:
    report = delete_viewer(store, "acme", CLIENT, keys=KEYS, actor="cli:operator")
    (record,) = audit.list_records(store, action="dsar")
    assert record["actor"] == "cli:operator"
    assert record["scope"] == {"organization_id": "acme"}
    details = record["details"]
    assert details["request_id"] == report.request_id == request_id("acme", CLIENT, KEYS)
    assert details["curated_partitions_rewritten"] == report.keys("curated")
    assert details["raw_lines_removed"] == report.count("raw")
    assert details["rollup_days_rebuilt"] == [DAY1.date().isoformat(), DAY2.date().isoformat()]
    assert details["viewer_keys_tried"] == 2
    text = json.dumps(record)
    assert not any(form in text for form in (CURRENT, OLDER, CLIENT))


def test_running_it_again_changes_nothing(store: LocalStore) -> None:
    delete_viewer(store, "acme", CLIENT, keys=KEYS)
    after = snapshot(store)
    again = delete_viewer(store, "acme", CLIENT.upper(), keys=KEYS)  # as an operator may paste it
    assert again.removed == {} and again.rollup_days_rebuilt == []
    assert {k: v for k, v in snapshot(store).items() if not k.startswith("audit/")} == {
        k: v for k, v in after.items() if not k.startswith("audit/")}


def test_another_viewer_and_another_organization_are_separate_requests(store: LocalStore) -> None:
    before = snapshot(store)
    report = delete_viewer(store, "initech", CLIENT, keys=KEYS)  # the viewer has no data there
    assert report.removed == {}
    assert {k: v for k, v in snapshot(store).items() if not k.startswith("audit/")} == before
    report = delete_viewer(store, "globex", CLIENT, keys=KEYS)
    assert set(report.removed) and all("org=globex/" in key for key in report.removed)
    assert all(store.get(key) == before[key] for key in before if "org=acme/" in key)


def test_without_the_key_the_client_hash_finds_only_unkeyed_data(store: LocalStore) -> None:
    # A deployment that lost its viewer key cannot link the client hash to keyed ids: exactly the
    # protection keyed ids give against a leaked store.
    report = delete_viewer(store, "acme", CLIENT, keys=ViewerKeys.parse("x:some-other-key"))
    assert report.count("curated") == 2  # the session stored before keyed ids
    assert CURRENT.encode() in b"".join(store.get(key) for key in store.list("curated/org=acme/"))


def test_rollup_days_whose_curated_data_is_gone_lose_the_viewer_but_keep_their_counts(
        store: LocalStore) -> None:
    # Retention took day 1's curated data; its rollups outlive it and cannot be rebuilt.
    day1 = DAY1.date()
    for key in list(store.list(f"curated/org=acme/year={day1:%Y}/month={day1:%m}/day={day1:%d}/")):
        store.delete(key)
    daily = store.get(rollup_key("daily", "acme", day1))
    report = delete_viewer(store, "acme", CLIENT, keys=KEYS)
    assert day1 not in report.rollup_days_rebuilt
    viewers_key = rollup_key("viewers", "acme", day1)
    assert report.removed[viewers_key] == 2  # the two sessions' project/template rows
    assert store.get(rollup_key("daily", "acme", day1)) == daily
    assert not any(row["viewer_hash"] in (CURRENT, OLDER) for row in parquet_rows(store.get(viewers_key)))


def test_corrupt_and_quarantined_objects_are_scrubbed_too(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    target, others = sessions()
    good = [json.dumps(event).encode() for event in events(target[:1] + others[:1])]
    corrupt = raw_key("acme", DAY1.replace(hour=10, tzinfo=None), uuid.uuid4().hex)
    store.put(corrupt, rawfile.encode([*good, b"{not json " + CURRENT.encode()]))
    truncated = raw_key("acme", DAY1.replace(hour=11, tzinfo=None), uuid.uuid4().hex)
    store.put(truncated, rawfile.encode(good)[:-30])  # cut inside the stream; not compacted yet
    compact(store, hour=DAY1.replace(hour=10, tzinfo=None))
    assert list(store.list("quarantine/")) == [f"quarantine/{corrupt}"]
    report = delete_viewer(store, "acme", CLIENT, keys=KEYS)
    assert {key: report.removed[key] for key in report.removed if not key.startswith("curated/")} == {
        f"quarantine/{corrupt}": len(events(target[:1])) + 1, truncated: len(events(target[:1]))}
    for key in store.list(""):
        data = store.get(key)
        assert CURRENT.encode() not in data + _inflated(data), key
    # The other viewer's lines stay, to investigate or to compact.
    assert len(raw_lines(store, "quarantine/")) == len(events(others[:1]))
    assert len(raw_lines(store, truncated)) == len(events(others[:1]))


def _inflated(data: bytes) -> bytes:
    try:
        return zlib.decompressobj(wbits=31).decompress(data)
    except zlib.error:
        return b""


def test_exports_holding_the_viewer_are_deleted_whole(store: LocalStore) -> None:
    holding = "exports/org=acme/20261125T101010Z-00000000000000aa.csv"
    other = "exports/org=acme/20261125T101010Z-00000000000000bb.csv"
    elsewhere = "exports/org=globex/20261125T101010Z-00000000000000cc.csv"
    store.put(holding, f"event_id,viewer_hash\n1,{CURRENT}\n2,{KEYS.keyed(OTHER_CLIENT)}\n".encode())
    store.put(other, f"event_id,viewer_hash\n2,{KEYS.keyed(OTHER_CLIENT)}\n".encode())
    store.put(elsewhere, f"event_id,viewer_hash\n3,{CURRENT}\n".encode())
    report = delete_viewer(store, "acme", CLIENT, keys=KEYS)
    assert report.keys("exports") == [holding] and holding in report.deleted
    assert set(store.list("exports/")) == {other, elsewhere}


def test_it_waits_for_or_refuses_a_running_compaction(store: LocalStore) -> None:
    with curated_lock(store), pytest.raises(CompactionBusy):
        delete_viewer(store, "acme", CLIENT, keys=KEYS, wait=False)
    assert not list(store.list(JOB_PREFIX))


def test_a_bad_hash_is_refused_before_anything_is_read(store: LocalStore) -> None:
    with pytest.raises(ValueError, match="64 hexadecimal"):
        delete_viewer(store, "acme", "not-a-hash", keys=KEYS)
    with pytest.raises(ValueError, match="organization"):
        delete_viewer(store, "../acme", CLIENT, keys=KEYS)


# --- crashes ---------------------------------------------------------------------------------------

def _audited(store: Store) -> list[dict[str, Any]]:
    return [{k: v for k, v in record["details"].items() if k != "started_at"}
            for record in audit.list_records(store, action="dsar")]


def crash_points(writes: list[tuple[str, str]]) -> list[int]:
    """One crash between each kind of write and the kind that follows it (a job-record save and a
    raw rewrite, a raw delete and the next save, two rollup files, …): every distinct point the
    job can stop at, without repeating the same one for every object."""
    def kind(index: int) -> tuple[str, str]:
        op, key = writes[index]
        return op, "/".join(key.split("/")[:2]) if key.startswith("state/") else key.split("/")[0]

    points, seen = [0], set()
    for index in range(1, len(writes)):
        transition = (kind(index - 1), kind(index))
        if transition not in seen:
            seen.add(transition)
            points.append(index)
    return points


def test_a_crash_at_any_point_then_a_rerun_ends_exactly_as_an_uninterrupted_run(
        built: tuple[Path, Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    whole = LocalStore(Path(shutil.copytree(built[0], tmp_path / "whole")))
    logged = CrashingStore(whole, None)
    delete_viewer(logged, "acme", CLIENT, keys=KEYS)  # type: ignore[arg-type]
    expected, expected_audit = outcome(whole), _audited(whole)
    points = crash_points(logged.writes)
    assert len(points) > 15 and len(logged.writes) - 1 in points  # up to the job record's removal
    for crash_at in points:
        root = tmp_path / f"crash-{crash_at}"
        store = LocalStore(Path(shutil.copytree(built[0], root)))
        with pytest.raises(Crash):
            delete_viewer(CrashingStore(store, crash_at), "acme", CLIENT, keys=KEYS)  # type: ignore[arg-type]
        report = delete_viewer(store, "acme", CLIENT, keys=KEYS)
        assert outcome(store) == expected, logged.writes[crash_at]
        assert _audited(store) == expected_audit, logged.writes[crash_at]
        assert report.resumed == (crash_at > 0)  # every write before the first is the job record's
        assert not list(store.list(JOB_PREFIX))
        shutil.rmtree(root)


KILLER = """
import os, signal, sys
from pathlib import Path
from pipeline.governance.dsar import delete_viewer
from pipeline.store.local import LocalStore
from pipeline.governance.viewer_keys import ViewerKeys

class DiesAfterCurated(LocalStore):
    def put(self, key, data):
        super().put(key, data)
        if key.startswith("curated/"):
            os.kill(os.getpid(), signal.SIGKILL)  # between a curated rewrite and the index

delete_viewer(DiesAfterCurated(Path(sys.argv[1])), "acme", sys.argv[2], keys=ViewerKeys.parse(sys.argv[3]))
"""


def test_killed_midway_then_a_compaction_then_the_resume_ends_exactly(store: LocalStore,
                                                                     reference: LocalStore) -> None:
    process = subprocess.run([sys.executable, "-c", KILLER, str(store.root), CLIENT,
                              "v2:current-viewer-key,v1:older-viewer-key"], cwd=REPO, timeout=60,
                             env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True)
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()
    assert list(store.list(JOB_PREFIX))  # the job record says where it was
    # The serve loop compacts between the crash and the resume: raw was cleaned first, so the late
    # objects bring only clean events in, and nothing deleted comes back.
    compact(store)
    report = delete_viewer(store, "acme", CLIENT, keys=KEYS)
    assert report.resumed
    # The late objects were compacted before the resume rebuilt the rollups: so in the reference.
    compact(reference)
    for day in report.rollup_days_rebuilt:
        build_rollups(reference, day=day, org="acme")
    assert outcome(store) == outcome(reference)
    assert compact(store).raw_objects_read == 0


def test_rollup_tables_of_a_rebuilt_day_match_a_build_without_the_viewer(store: LocalStore,
                                                                         reference: LocalStore) -> None:
    delete_viewer(store, "acme", CLIENT, keys=KEYS)
    for day in DAYS:
        for name in ROLLUPS:
            key = rollup_key(name, "acme", day)
            mine, theirs = store.local_path(key), reference.local_path(key)
            assert mine is not None and theirs is not None
            assert mine.exists() == theirs.exists(), key
            if mine.exists():
                assert pq.read_table(mine).equals(pq.read_table(theirs)), key


def _outcome(client: str, occurred: datetime, name: str = "policy_renewed") -> Outcome:
    return parse_outcome({"outcome_id": str(uuid.uuid4()), "viewer_hash": client, "name": name,
                          "occurred_at": occurred.isoformat()}, now=occurred)


def test_the_viewers_outcomes_and_audience_memberships_go_too(store: LocalStore) -> None:
    received = DAY2 + timedelta(days=1)
    for org in ("acme", "globex"):
        outcomes = [_outcome(CLIENT, DAY1), _outcome(CLIENT, DAY2), _outcome(OTHER_CLIENT, DAY2)]
        store_outcomes(store, org, outcomes, KEYS, received_at=received)
        add_members(store, org, "letters", [CLIENT, OTHER_CLIENT], KEYS, received_at=received)
    globex = snapshot(store, "outcomes/org=globex/") | snapshot(store, "audiences/org=globex/")

    report = delete_viewer(store, "acme", CLIENT, keys=KEYS)

    assert (report.count("outcomes"), report.count("audiences")) == (2, 1)
    assert len(report.keys("outcomes")) == 2 and len(report.keys("audiences")) == 1
    assert [key for key in report.deleted if key.startswith("outcomes/")] == report.keys("outcomes")[:1]
    left = [row for key in store.list("outcomes/org=acme/") for row in parquet_rows(store.get(key))]
    assert [row["viewer_hash"] for row in left] == [KEYS.keyed(OTHER_CLIENT)]
    assert audience_members(store, "acme", "letters") == {KEYS.keyed(OTHER_CLIENT)}
    assert snapshot(store, "outcomes/org=globex/") | snapshot(store, "audiences/org=globex/") == globex
    (record,) = audit.list_records(store, action="dsar")
    assert record["details"]["outcome_rows_removed"] == 2
    assert record["details"]["audience_rows_removed"] == 1
    assert delete_viewer(store, "acme", CLIENT, keys=KEYS).removed == {}
