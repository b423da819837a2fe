"""The compactor: raw NDJSON.gz objects to curated Parquet, on LocalStore and once on S3 (moto server)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import uuid
import zlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.curated import schema
from pipeline.curated.compactor import CompactionBusy, CompactionReport, compact, curated_lock
from pipeline.layout import curated_key, raw_key
from pipeline.raw import rawfile
from pipeline.store.base import Store
from pipeline.store.local import LocalStore
from pipeline.store.s3 import S3Store
from tests.pipeline._crashing_store import Crash, CrashingStore
from translator.canonical import EVENT_MODELS, Envelope
from translator.event_parser import parse_event

REPO = Path(__file__).resolve().parents[3]
ARCHITECTURE = REPO / "docs" / "architecture.md"
ORG = "acme"
PAYLOADS: dict[str, dict[str, Any]] = {
    "session.started": {},
    "video.played": {"position_ms": 0},
    "video.paused": {"position_ms": 1200},
    "video.progressed": {"position_ms": 7500, "percent": 25.0},
    "video.completed": {"duration_ms": 30000, "percent": 100.0},
    "video.incomplete": {"duration_ms": 30000, "percent": 40.5},
    "video.errored": {"error_code": "MEDIA_ERR_DECODE", "error_message": "decode failed"},
    "cta.clicked": {"cta_id": "cta-1", "cta_name": "Simulate", "cta_value": "yes", "position_ms": 9000},
    "interaction.engaged": {"interaction_id": "form-1", "interaction_name": "Survey",
                            "interaction_value": "4", "position_ms": 100},
    "chapter.entered": {"chapter_id": "c1", "chapter_name": "Intro", "position_ms": 0},
    "chapter.exited": {"chapter_id": "c1", "position_ms": 5000},
    "consent.accepted": {},
    "consent.declined": {},
    "autoplay.failed": {"reason": "NotAllowedError"},
}
TIMESTAMP_FIELDS = ("occurred_at", "sent_at", "received_at", "consent_granted_at")


def stored(event_type: str = "video.played", *, received: str = "2026-11-25T10:15:00.000Z", org: str = ORG,
           payload: dict[str, Any] | None = None, **envelope: Any) -> dict[str, Any]:
    """A stored event as the gateway writes it: the enriched canonical model, every field present."""
    data = {
        "event_id": str(uuid.uuid4()), "schema_version": "1", "event_type": event_type,
        "occurred_at": received, "received_at": received, "organization_id": org, "project_id": "p1",
        "template_id": "tpl-1", "template_version": "3", "distribution_channel_id": "email",
        "viewer_hash": "ab" * 32, "session_id": str(uuid.uuid4()), "playback_id": 1, "locale": "es-CL",
        "device": {"type": "mobile", "os": "iOS", "browser": "Mobile Safari"}, "geo": {"country": "CL"},
        "referrer_host": "mail.example.com",
        "consent": {"tracking": True, "granted_at": "2026-11-25T09:00:00.000Z"},
        "payload": PAYLOADS[event_type] if payload is None else payload,
        **envelope,
    }
    return json.loads(parse_event(data).model_dump_json())


def line(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def hour_of(event: dict[str, Any]) -> datetime:
    received = datetime.fromisoformat(event["received_at"].replace("Z", "+00:00"))
    return received.replace(minute=0, second=0, microsecond=0, tzinfo=None)


def put_raw(store: Store, items: list[dict[str, Any] | bytes], *, hour: datetime | None = None,
            org: str = ORG, batch: str | None = None) -> str:
    """One raw object as the writer makes it; the hour defaults to the first event's."""
    lines = [item if isinstance(item, bytes) else line(item) for item in items]
    if hour is None:
        hour = hour_of(next(item for item in items if isinstance(item, dict)))
    key = raw_key(org, hour, batch or str(uuid.uuid4()))
    store.put(key, rawfile.encode(lines))
    return key


def expected_row(event: dict[str, Any]) -> dict[str, Any]:
    """The curated row of a stored event, spelled out independently of pipeline/schema.py."""
    row: dict[str, Any] = dict.fromkeys(schema.SCHEMA.names)
    for name, value in event.items():
        if name in ("device", "geo", "consent"):
            for sub, sub_value in (value or {}).items():
                row[f"{name}_{sub}"] = sub_value
        elif name == "payload":
            row.update(value)
        else:
            row[name] = value
    for name in TIMESTAMP_FIELDS:
        if row[name] is not None:
            row[name] = datetime.fromisoformat(row[name].replace("Z", "+00:00"))
    row["event_time"] = row["occurred_at"]
    if row["sent_at"] is not None:
        row["event_time"] = row["occurred_at"] + (row["received_at"] - row["sent_at"])
    row["event_time"] = min(row["event_time"], row["received_at"])
    return row


def curated_files(store: Store, org: str = ORG) -> dict[str, list[dict[str, Any]]]:
    return {key: pq.read_table(pa.BufferReader(store.get(key))).to_pylist()
            for key in store.list(f"curated/org={org}/")}


def all_rows(store: Store, org: str = ORG) -> list[dict[str, Any]]:
    rows = [row for rows in curated_files(store, org).values() for row in rows]
    return sorted(rows, key=lambda row: row["event_id"])


def expected_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((expected_row(event) for event in events), key=lambda row: row["event_id"])


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "bucket")


# --- the curated schema ---------------------------------------------------------------------------

def test_every_model_field_is_a_typed_column_and_documented() -> None:
    names = set(schema.SCHEMA.names)
    for name, info in Envelope.model_fields.items():
        nested = info.annotation.__args__[0] if name in ("device", "geo", "consent") else None
        if nested is not None:
            assert {f"{name}_{sub}" for sub in nested.model_fields} <= names
        elif name not in ("event_type", "payload"):
            assert name in names
    for model in EVENT_MODELS.values():
        assert set(model.model_fields["payload"].annotation.model_fields) <= names
    assert {"event_type", "event_time"} <= names
    timestamp = pa.timestamp("ms", tz="UTC")
    for name in (*TIMESTAMP_FIELDS, "event_time"):
        assert schema.SCHEMA.field(name).type == timestamp
    assert schema.SCHEMA.field("device_is_bot").type == pa.bool_()
    assert schema.SCHEMA.field("position_ms").type == pa.int64()
    assert schema.SCHEMA.field("percent").type == pa.float64()
    # docs/architecture.md's list is the reference the rollups and reports are written against.
    listed = ARCHITECTURE.read_text().split("**Curated rows**")[1].split("\n\n**")[0]
    assert [name for name in schema.SCHEMA.names if f"`{name}`" not in listed] == []


def test_each_event_type_becomes_one_exact_row(store: LocalStore) -> None:
    events = [stored(event_type, received=f"2026-11-25T10:{minute:02d}:00.250Z")
              for minute, event_type in enumerate(PAYLOADS)]
    events.append(stored("video.errored", device=None, geo=None, consent=None, viewer_hash=None,
                         playback_id=None, locale=None, sent_at=None))
    put_raw(store, events)
    report = compact(store)
    [key] = curated_files(store)
    assert key == curated_key(ORG, datetime(2026, 11, 25, 10))
    assert all_rows(store) == expected_rows(events)
    written = pq.read_schema(store.local_path(key))
    assert written.remove_metadata() == schema.SCHEMA
    assert pq.ParquetFile(store.local_path(key)).metadata.row_group(0).column(0).compression == "SNAPPY"
    assert (report.raw_objects_read, report.events_in, report.duplicates_dropped) == (1, 15, 0)
    assert (report.rows_written, report.partitions_written) == (15, [key])


def test_event_time_corrects_client_clock_skew(store: LocalStore) -> None:
    # The client clock runs 2.5 s ahead: it sent at 10:00:05.000 what the server got at 10:00:02.500.
    skewed = stored(occurred_at="2026-11-25T10:00:00.000Z", sent_at="2026-11-25T10:00:05.000Z",
                    received="2026-11-25T10:00:02.500Z")
    unsent = stored(occurred_at="2026-11-25T10:00:01.000Z", received="2026-11-25T10:00:03.000Z")
    put_raw(store, [skewed, unsent])
    compact(store)
    rows = {row["event_id"]: row for row in all_rows(store)}
    assert rows[skewed["event_id"]]["event_time"] == datetime.fromisoformat("2026-11-25T09:59:57.500+00:00")
    assert rows[skewed["event_id"]]["occurred_at"] == datetime.fromisoformat("2026-11-25T10:00:00+00:00")
    assert rows[skewed["event_id"]]["sent_at"] == datetime.fromisoformat("2026-11-25T10:00:05+00:00")
    assert rows[unsent["event_id"]]["event_time"] == rows[unsent["event_id"]]["occurred_at"]


def test_event_time_is_never_after_the_server_received_the_event(store: LocalStore) -> None:
    received = "2026-11-25T10:00:00.000Z"
    # A clock a day ahead and no sent_at; a sent_at before occurred_at (a queue time below zero).
    ahead = stored(occurred_at="2026-11-26T10:00:00.000Z", received=received)
    backwards = stored(occurred_at="2026-11-25T10:00:00.000Z", sent_at="2026-11-25T09:00:00.000Z",
                       received=received)
    put_raw(store, [ahead, backwards])
    compact(store)
    rows = {row["event_id"]: row for row in all_rows(store)}
    for event in (ahead, backwards):
        assert rows[event["event_id"]]["event_time"] == datetime.fromisoformat("2026-11-25T10:00:00+00:00")
    assert rows[ahead["event_id"]]["occurred_at"] == datetime.fromisoformat("2026-11-26T10:00:00+00:00")


@pytest.mark.parametrize(("times", "field"), [
    ({"occurred_at": "0001-01-01T00:00:00.000Z", "sent_at": "9999-12-31T23:59:59.999Z"}, "occurred_at"),
    ({"occurred_at": "0001-01-01T00:00:00.000+01:00"}, "occurred_at"),
    ({"sent_at": "9999-12-31T23:59:59.999-14:00"}, "sent_at"),
    ({"sent_at": "9999-12-31T00:00:00.000Z"}, "sent_at"),  # corrects 2026 to before 2000
    ({"occurred_at": "2026-11-27T10:15:00.000Z"}, "occurred_at"),  # 48 h after receipt, no sent_at
])
def test_a_raw_event_outside_the_time_window_is_quarantined_not_curated(store: LocalStore,
                                                                        times: dict[str, str],
                                                                        field: str) -> None:
    # Raw objects written before the gateway held the window: the compactor holds it again.
    good = [stored(), stored()]
    bad = {**stored(), **times}
    key = put_raw(store, [good[0], bad, good[1]])
    report = compact(store)
    assert report.quarantined_objects == [key]
    assert {row["event_id"] for row in all_rows(store)} == {event["event_id"] for event in good}
    [record] = [json.loads(store.get(k)) for k in store.list("audit/")]
    assert (record["details"]["reason"], record["details"]["field"]) == ("invalid_event", field)


# --- duplicates, late objects, idempotence --------------------------------------------------------

def test_duplicates_within_and_across_hours_and_days_keep_the_earliest(store: LocalStore) -> None:
    midnight = stored(received="2026-11-25T23:59:59.900Z", payload={"position_ms": 1})
    retried = {**midnight, "received_at": "2026-11-26T00:00:00.100Z", "payload": {"position_ms": 2}}
    twice = stored(received="2026-11-25T23:10:00.000Z")
    late_first = stored(received="2026-11-26T00:30:00.000Z", payload={"position_ms": 3})
    early_copy = {**late_first, "received_at": "2026-11-26T00:05:00.000Z", "payload": {"position_ms": 4}}
    other = stored(received="2026-11-26T00:10:00.000Z")
    put_raw(store, [midnight, twice, twice])
    put_raw(store, [retried, late_first, other])
    put_raw(store, [early_copy])
    report = compact(store)
    assert all_rows(store) == expected_rows([midnight, twice, early_copy, other])
    files = curated_files(store)
    assert {row["event_id"] for row in files[curated_key(ORG, datetime(2026, 11, 25, 23))]} == {
        midnight["event_id"], twice["event_id"]}
    assert (report.events_in, report.duplicates_dropped, report.rows_written) == (7, 3, 4)


def test_deduplication_keeps_the_earliest_received_copy_then_the_first_in_table_order() -> None:
    from pipeline.curated.compactor import _deduplicated

    at = [datetime(2026, 11, 25, 10, minute) for minute in (5, 3, 1, 7, 3, 7, 2)]
    table = pa.table({"event_id": ["b", "a", "b", "c", "a", "c", "d"],
                      "received_at": pa.array(at, schema.TIMESTAMP), "copy": [0, 1, 2, 3, 4, 5, 6]})
    kept = _deduplicated(table).to_pydict()
    # b: the copy received first; a and c: received at the same time, the first in the table; all
    # ordered by received_at, then event_id.
    assert (kept["event_id"], kept["copy"]) == (["b", "d", "a", "c"], [2, 6, 1, 3])
    unique = _deduplicated(table.slice(5))
    assert unique.column("event_id").to_pylist() == ["d", "c"]


def test_an_earlier_copy_arriving_late_moves_the_event_to_its_hour(store: LocalStore) -> None:
    kept = stored(received="2026-11-25T11:20:00.000Z")
    moved = stored(received="2026-11-25T11:05:00.000Z", payload={"position_ms": 11})
    put_raw(store, [kept, moved])
    compact(store)
    # Hours later the writer delivers an object of hour 10 holding an earlier receipt of `moved`.
    earlier = {**moved, "received_at": "2026-11-25T10:59:00.000Z", "payload": {"position_ms": 10}}
    put_raw(store, [earlier])
    report = compact(store)
    files = curated_files(store)
    assert [row["event_id"] for row in files[curated_key(ORG, datetime(2026, 11, 25, 11))]] == [
        kept["event_id"]]
    assert all_rows(store) == expected_rows([kept, earlier])
    assert report.duplicates_dropped == 1
    assert sorted(report.partitions_written) == [curated_key(ORG, datetime(2026, 11, 25, hour))
                                                 for hour in (10, 11)]


def test_a_late_object_is_merged_into_its_compacted_hour(store: LocalStore) -> None:
    first = [stored(received=f"2026-11-25T10:0{n}:00.000Z") for n in range(3)]
    put_raw(store, first)
    compact(store)
    late = [stored(received=f"2026-11-25T10:5{n}:00.000Z") for n in range(2)]
    put_raw(store, [*late, first[0]])  # a retry re-sent one event already compacted
    report = compact(store)
    assert all_rows(store) == expected_rows(first + late)
    assert (report.raw_objects_read, report.events_in, report.duplicates_dropped) == (1, 3, 1)
    assert report.rows_written == 5


def test_running_again_changes_nothing(store: LocalStore) -> None:
    events = [stored(received=f"2026-11-2{day}T{hour:02d}:30:00.000Z") for day in (5, 6) for hour in (0, 23)]
    for event in events:
        put_raw(store, [event, event])
    compact(store)

    def snapshot() -> dict[str, bytes]:
        return {key: store.get(key) for key in store.list("") if not key.startswith("audit/")}

    before = snapshot()
    again = compact(store)
    assert again == CompactionReport()
    assert snapshot() == before
    assert all_rows(store) == expected_rows(events)


def test_copies_further_apart_than_the_window_are_both_kept(store: LocalStore) -> None:
    first = stored(received="2026-11-25T10:00:00.000Z")
    put_raw(store, [first])
    put_raw(store, [{**first, "received_at": "2026-11-25T12:00:00.000Z"}])
    put_raw(store, [{**first, "received_at": "2026-11-25T11:00:00.000Z"}])
    compact(store, dedup_window=timedelta(hours=1))
    # 11:00 is within an hour of 10:00 and loses; 12:00 is two hours from the winner and stays.
    assert [row["received_at"].hour for row in all_rows(store)] == [10, 12]


def test_hour_and_orgs_limit_the_run(store: LocalStore) -> None:
    ten, eleven = stored(received="2026-11-25T10:00:00.000Z"), stored(received="2026-11-25T11:00:00.000Z")
    globex = stored(received="2026-11-25T10:00:00.000Z", org="globex")
    for event in (ten, eleven):
        put_raw(store, [event])
    put_raw(store, [globex], org="globex")
    report = compact(store, hour=datetime(2026, 11, 25, 10, 42), orgs=[ORG])
    assert report.partitions_written == [curated_key(ORG, datetime(2026, 11, 25, 10))]
    assert compact(store, orgs=["globex"]).partitions_written == [
        curated_key("globex", datetime(2026, 11, 25, 10))]
    assert compact(store).partitions_written == [curated_key(ORG, datetime(2026, 11, 25, 11))]
    assert all_rows(store) == expected_rows([ten, eleven])


def test_an_older_curated_file_gains_new_columns_as_nulls(store: LocalStore) -> None:
    old = stored("autoplay.failed", received="2026-11-25T10:00:00.000Z")
    key = curated_key(ORG, datetime(2026, 11, 25, 10))
    # A file from before `reason` existed, already holding the event.
    table = pa.Table.from_pylist([expected_row(old)], schema=schema.SCHEMA).drop_columns(["reason"])
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    store.put(key, sink.getvalue().to_pybytes())
    new = stored(received="2026-11-25T10:30:00.000Z")
    put_raw(store, [old, new])
    compact(store)
    assert all_rows(store) == expected_rows([{**old, "payload": {}}, new])


def test_progress_reports_each_partition(store: LocalStore) -> None:
    for hour in range(3):
        put_raw(store, [stored(received=f"2026-11-25T0{hour}:00:00.000Z")])
    seen: list[tuple[int, int, int]] = []
    report = compact(store, progress=lambda done, total, so_far: seen.append(
        (done, total, so_far.rows_written)))
    assert seen == [(1, 3, 1), (2, 3, 2), (3, 3, 3)]
    assert report.rows_written == 3


# --- corrupt objects --------------------------------------------------------------------------------

def test_corrupt_objects_go_to_quarantine_and_the_good_events_land(store: LocalStore) -> None:
    hour = datetime(2026, 11, 25, 10)
    good = [stored(received=f"2026-11-25T10:00:0{n}.000Z") for n in range(3)]
    good_key = put_raw(store, good)
    many = [stored(received="2026-11-25T10:10:00.000Z") for _ in range(60)]
    whole = rawfile.encode(line(event) for event in many)
    truncated_key = raw_key(ORG, hour, "truncated")
    store.put(truncated_key, whole[: len(whole) * 2 // 3])
    survivors = zlib.decompressobj(wbits=31).decompress(whole[: len(whole) * 2 // 3]).count(b"\n")
    assert 0 < survivors < len(many)
    mixed = [stored(received="2026-11-25T10:20:00.000Z") for _ in range(2)]
    not_json_key = put_raw(store, [mixed[0], b'{"event_id": "oops', mixed[1]], hour=hour)
    invalid = stored(received="2026-11-25T10:30:00.000Z")
    bad_event = {**stored(received="2026-11-25T10:31:00.000Z"), "payload": {}}  # lacks position_ms
    invalid_key = put_raw(store, [invalid, bad_event], hour=hour)
    stranger_key = put_raw(store, [stored(received="2026-11-25T10:40:00.000Z", org="globex")], hour=hour)
    garbage_key = raw_key(ORG, hour, "garbage")
    store.put(garbage_key, b"this is not gzip")
    originals = {key: store.get(key) for key in (truncated_key, not_json_key, invalid_key, stranger_key,
                                                 garbage_key)}

    report = compact(store)

    assert all_rows(store) == expected_rows([*good, *many[:survivors], *mixed, invalid])
    assert list(store.list("raw/")) == [good_key]
    for key, data in originals.items():
        assert store.get(f"quarantine/{key}") == data  # moved aside untouched
    assert sorted(report.quarantined_objects) == sorted(originals)
    assert report.events_rejected == 4  # the cut line, the non-JSON one, the invalid one, the stranger
    records = [json.loads(store.get(key)) for key in store.list("audit/")]
    verdicts = {record["details"]["raw_key"]: record["details"] for record in records}
    assert {record["action"] for record in records} == {"raw.quarantined"}
    assert verdicts[truncated_key]["reason"] == "truncated_gzip"
    assert verdicts[truncated_key]["salvaged_events"] == survivors
    assert (verdicts[not_json_key]["reason"], verdicts[not_json_key]["line_number"]) == ("invalid_json", 2)
    assert (verdicts[invalid_key]["reason"], verdicts[invalid_key]["field"]) == (
        "invalid_event", "payload.position_ms")
    assert verdicts[stranger_key]["reason"] == "wrong_organization"
    assert verdicts[garbage_key]["reason"] == "bad_gzip"
    # Audit records describe the object, never its content.
    audit_text = b"".join(store.get(key) for key in store.list("audit/")).decode()
    everything = [*good, *many, *mixed, invalid, bad_event]
    for event in everything:
        assert event["event_id"] not in audit_text and event["session_id"] not in audit_text
    assert "ab" * 32 not in audit_text and "oops" not in audit_text
    # Nothing is quarantined twice, nothing redone.
    assert compact(store) == CompactionReport()


VALID_ODDITIES: dict[str, dict[str, Any]] = {
    "uppercase ids": {"event_id": str(uuid.uuid4()).upper()},
    "offset timestamp": {"occurred_at": "2026-11-25T12:00:00.123+02:00"},
    "microseconds": {"sent_at": "2026-11-25T10:00:00.123456Z"},
    "locale to normalise": {"locale": "ES_cl"},
    "long name": {"event_type": "cta.clicked", "payload": {"cta_id": "c", "cta_name": "n" * 90}},
    "unknown fields": {"future_field": 1, "payload": {"position_ms": 5, "extra": "x"}},
    "field of another type": {"event_type": "session.started", "payload": {"position_ms": 5}},
    "integral percent": {"event_type": "video.progressed", "payload": {"position_ms": 1, "percent": 50}},
    "device without is_bot": {"device": {"type": "desktop"}},
    "integral float": {"payload": {"position_ms": 12.0}},
}
INVALID_LINES: dict[str, dict[str, Any]] = {
    "event_id not a uuid": {"event_id": "not-a-uuid"},
    "session_id missing": {"session_id": None},
    "schema_version 2": {"schema_version": "2"},
    "unknown event_type": {"event_type": "video.exploded"},
    "occurred_at not a time": {"occurred_at": "yesterday"},
    "occurred_at without offset": {"occurred_at": "2026-11-25T10:00:00.000"},
    "received_at missing": {"received_at": None},
    "viewer_hash not hex": {"viewer_hash": "XYZ"},
    "country not a code": {"geo": {"country": "chile"}},
    "playback_id negative": {"playback_id": -1},
    "consent without tracking": {"consent": {"granted_at": None}},
    "device a string": {"device": "mobile"},
    "percent over 100": {"event_type": "video.progressed", "payload": {"position_ms": 1, "percent": 101}},
    "cta without id": {"event_type": "cta.clicked", "payload": {"cta_name": "x"}},
    "empty chapter id": {"event_type": "chapter.entered", "payload": {"chapter_id": ""}},
    "template_id too long": {"template_id": "t" * 129},
    "number as text": {"payload": {"position_ms": "12"}},
    "number as a boolean": {"payload": {"position_ms": True}},
    "percent as text": {"event_type": "video.progressed", "payload": {"position_ms": 1, "percent": "50"}},
    "tracking as text": {"consent": {"tracking": "true"}},
    "tracking as a number": {"consent": {"tracking": 1}},
    "time without seconds": {"occurred_at": "2026-11-25T10:00Z"},
    "two objects on a line": {},
    "array": {},
}


def _odd_line(changes: dict[str, Any], name: str, received: str) -> bytes:
    if name == "array":
        return b"[1, 2]"
    base = stored(received=received)
    if name == "two objects on a line":
        return line(base) + line(stored(received=received))
    return line({**base, **changes})


def test_the_fast_checks_agree_with_the_canonical_models(store: LocalStore) -> None:
    hour = datetime(2026, 11, 25, 10)
    keys: dict[str, str] = {}
    good: list[dict[str, Any]] = []
    for number, (name, changes) in enumerate({**VALID_ODDITIES, **INVALID_LINES}.items()):
        received = f"2026-11-25T10:{number:02d}:00.000Z"
        neighbour = stored(received=received)
        good.append(neighbour)
        odd = _odd_line(changes, name, received)
        if name in VALID_ODDITIES:  # what the models make of it is what must land
            good.append(json.loads(parse_event(json.loads(odd)).model_dump_json()))
        keys[name] = put_raw(store, [neighbour, odd], hour=hour)
    report = compact(store)
    assert sorted(report.quarantined_objects) == sorted(keys[name] for name in INVALID_LINES)
    assert all_rows(store) == expected_rows(good)


# --- crashes and concurrency ------------------------------------------------------------------------

def _scenario() -> tuple[list[tuple[str, list[Any]]], list[tuple[str, list[Any]]], list[dict[str, Any]]]:
    """Two waves of raw objects (batch id, events), and the events the curated zone must hold after both."""
    day_end = [stored(received=f"2026-11-25T23:5{n}:00.000Z") for n in range(3)]
    next_day = [stored(received=f"2026-11-26T00:1{n}:00.000Z") for n in range(3)]
    retried = {**day_end[0], "received_at": "2026-11-26T00:20:00.000Z"}
    moved = stored(received="2026-11-26T01:30:00.000Z")
    earlier = {**moved, "received_at": "2026-11-26T00:59:00.000Z", "payload": {"position_ms": 99}}
    late = stored(received="2026-11-25T23:58:00.000Z")
    back = {**next_day[2], "received_at": "2026-11-25T23:59:30.000Z", "payload": {"position_ms": 77}}
    first_wave = [("a", day_end), ("b", [*next_day, retried]), ("c", [moved])]
    # Late objects: an earlier copy of an event curated an hour later, one of an event curated the
    # next day, and a corrupt object holding a new event and a duplicate.
    second_wave = [("d", [earlier]), ("e", [late, b"not json", day_end[1]]), ("f", [back])]
    return first_wave, second_wave, [*day_end, *next_day[:2], back, earlier, late]


FIRST_WAVE, SECOND_WAVE, FINAL_EVENTS = _scenario()


def _put_wave(store: Store, wave: list[tuple[str, list[Any]]]) -> None:
    for batch, items in wave:
        first = next(item for item in items if isinstance(item, dict))
        put_raw(store, items, batch=batch, hour=hour_of(first))


def _outcome(store: Store) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    return all_rows(store), list(store.list("raw/")), list(store.list("quarantine/"))


def test_a_crash_at_any_write_is_repaired_by_the_next_run(tmp_path: Path) -> None:
    reference = LocalStore(tmp_path / "reference")
    _put_wave(reference, FIRST_WAVE)
    compact(reference)
    _put_wave(reference, SECOND_WAVE)
    counting = CrashingStore(reference, None)
    compact(counting)
    expected = _outcome(reference)
    assert expected[0] == expected_rows(FINAL_EVENTS)
    assert len(expected[2]) == 1
    assert len(counting.writes) >= 8
    for crash_at in range(len(counting.writes)):
        store = LocalStore(tmp_path / f"crash-{crash_at}")
        _put_wave(store, FIRST_WAVE)
        compact(store)
        _put_wave(store, SECOND_WAVE)
        with pytest.raises(Crash):
            compact(CrashingStore(store, crash_at))
        compact(store)
        assert _outcome(store) == expected, f"crash before write {crash_at}"
        assert compact(store).raw_objects_read == 0


KILLER = """
import os, signal, sys
from pathlib import Path
from pipeline.curated.compactor import compact
from pipeline.store.local import LocalStore

class DiesAfterCurated(LocalStore):
    def put(self, key, data):
        super().put(key, data)
        if key.startswith("curated/"):
            os.kill(os.getpid(), signal.SIGKILL)  # between the curated file and the manifest

compact(DiesAfterCurated(Path(sys.argv[1])))
"""


def _python(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, stderr=subprocess.PIPE)


def test_a_killed_compactor_leaves_nothing_the_next_run_cannot_repair(store: LocalStore) -> None:
    _put_wave(store, FIRST_WAVE)
    process = _python("-c", KILLER, str(store.root))
    process.communicate(timeout=60)
    assert process.returncode == -9
    assert list(store.list("curated/")) and not list(store.list("state/"))  # written, not recorded
    report = compact(store, wait=False)  # the dead process's lock went with it
    assert report.raw_objects_read == 3
    _put_wave(store, SECOND_WAVE)
    compact(store)
    assert _outcome(store)[0] == expected_rows(FINAL_EVENTS)


def test_two_compactions_at_once_take_turns(store: LocalStore) -> None:
    _put_wave(store, FIRST_WAVE)
    _put_wave(store, SECOND_WAVE)
    script = "import sys; from pathlib import Path; from pipeline.curated.compactor import compact; " \
             "from pipeline.store.local import LocalStore; compact(LocalStore(Path(sys.argv[1])))"
    processes = [_python("-c", script, str(store.root)) for _ in range(2)]
    for process in processes:
        _, errors = process.communicate(timeout=60)
        assert process.returncode == 0, errors.decode()
    assert _outcome(store)[0] == expected_rows(FINAL_EVENTS)


def test_a_held_lock_makes_a_non_waiting_run_busy_and_a_waiting_run_wait(store: LocalStore) -> None:
    put_raw(store, [stored()])
    finished = threading.Event()
    with curated_lock(store):
        with pytest.raises(CompactionBusy):
            compact(store, wait=False)
        waiting = threading.Thread(target=lambda: (compact(store), finished.set()))
        waiting.start()
        assert not finished.wait(0.3)
        assert not list(store.list("curated/"))
    waiting.join(timeout=30)
    assert finished.is_set() and len(all_rows(store)) == 1


# --- S3 ---------------------------------------------------------------------------------------------

@pytest.mark.aws
def test_compacts_on_s3_through_moto_server(aws: str) -> None:
    boto3.client("s3").create_bucket(Bucket="lake")
    store = S3Store("lake", "percus")
    _put_wave(store, FIRST_WAVE)
    compact(store)
    _put_wave(store, SECOND_WAVE)
    report = compact(store)
    rows, raw, quarantined = _outcome(store)
    assert rows == expected_rows(FINAL_EVENTS)
    assert quarantined == [f"quarantine/{key}" for key in report.quarantined_objects]
    assert len(raw) == 5
    assert gzip.decompress(store.get(quarantined[0])).count(b"not json") == 1
    assert compact(store) == CompactionReport()


def test_the_fast_path_takes_stored_events_and_never_what_the_models_refuse() -> None:
    from pipeline.raw.reader import _fast  # the vectorised checks; the models are the authority

    plain = [line(stored(event_type)) for event_type in PAYLOADS]
    assert _fast(b"\n".join(plain) + b"\n", ORG) is not None
    for name, changes in INVALID_LINES.items():
        odd = _odd_line(changes, name, "2026-11-25T10:00:00.000Z")
        assert _fast(b"\n".join([*plain, odd]) + b"\n", ORG) is None, name
    assert _fast(b"\n".join(plain) + b"\n", "globex") is None
