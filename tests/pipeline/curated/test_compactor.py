"""The compactor: raw NDJSON.gz objects to curated Parquet: the rows it makes, duplicates, late objects."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.curated import schema
from pipeline.curated.compactor import CompactionReport, compact
from pipeline.layout import curated_key
from pipeline.store.local import LocalStore
from tests.pipeline.curated._raw import (
    ARCHITECTURE,
    ORG,
    PAYLOADS,
    TIMESTAMP_FIELDS,
    all_rows,
    curated_files,
    expected_row,
    expected_rows,
    put_raw,
    stored,
)
from translator.canonical import EVENT_MODELS, Envelope

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
