"""CSV exports: the rows of a filter (dated by event time), no formulas for spreadsheets, and flat
memory for a large export."""

from __future__ import annotations

import csv
import io
import json
import re
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from percus.cli import main
from pipeline.curated import schema
from pipeline.layout import curated_key
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.reporting import exports, metrics, reports
from pipeline.reporting.selection import Selection
from pipeline.store.local import LocalStore
from tests.pipeline._impossible_rows import make_impossible
from tests.pipeline._platform import describe
from tests.pipeline._sessions import DAY1, DAY2, Session, ingest, known_sessions

D1, D2 = DAY1.date(), DAY2.date()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    sessions, duplicates = known_sessions()
    sessions.append(Session(DAY1 + timedelta(hours=6), project="p3").at(0, "session.started")
                    .at(1, "cta.clicked", cta_id="x", cta_name="=HYPERLINK(\"http://evil\",\"win\")")
                    .at(2, "cta.clicked", cta_id="y", cta_name="+1 offer"))
    local = LocalStore(tmp_path_factory.mktemp("exports"))
    ingest(local, sessions, duplicates)
    describe(local, "acme", projects={"p1": "Renewals", "p2": "=Pensions"},
             templates={("p2", "t2"): "Projection"})
    return local


def read(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def export(store: LocalStore, selection: Selection, org: str = "acme") -> list[dict[str, str]]:
    out = io.BytesIO()
    rows = exports.write_csv(store, DuckDbEngine(store), org, selection, out)
    found = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert len(found) == rows
    return found


def test_events_are_dated_by_event_time_and_filtered(store: LocalStore) -> None:
    day1 = export(store, Selection(date_from=D1, date_to=D1))
    day2 = export(store, Selection(date_from=D2, date_to=D2))
    everything = export(store, Selection())
    assert {row["event_id"] for row in day1} | {row["event_id"] for row in day2} == {
        row["event_id"] for row in everything}
    assert all(row["event_time"].startswith("2026-11-24T") for row in day1)
    assert all(row["event_time"].startswith("2026-11-25T") for row in day2)
    # S8 (p2) starts at 23:59:30 on day 1: its first events are day 1's, the rest day 2's.
    p2 = export(store, Selection(project_id="p2", date_from=D1, date_to=D1))
    assert [row["event_type"] for row in p2] == ["session.started", "video.played"]
    assert {row["organization_id"] for row in everything} == {"acme"}
    assert not any(row["device_is_bot"] == "true" for row in everything)
    with_bots = export(store, Selection(include_bots=True))
    assert {row["event_id"] for row in with_bots} > {row["event_id"] for row in everything}
    assert {row["project_id"] for row in export(store, Selection(template_id="t2"))} == {"p2"}


def test_columns_are_the_curated_columns_with_iso_timestamps(store: LocalStore) -> None:
    row = export(store, Selection(project_id="p2"))[0]
    columns = list(schema.SCHEMA.names)
    for name, label in (("template_id", "template_name"), ("project_id", "project_name")):
        columns.insert(columns.index(name) + 1, label)
    assert list(row) == columns == exports.event_csv_schema().names
    for name in ("occurred_at", "received_at", "event_time"):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", row[name]), row[name]


def test_each_project_and_template_id_has_its_name_beside_it(store: LocalStore) -> None:
    rows = export(store, Selection(date_from=D1, date_to=D2))
    named = {(row["project_id"], row["project_name"], row["template_id"], row["template_name"])
             for row in rows}
    # p3 was never named: an empty cell; p2's name would run in a spreadsheet: quoted like any text.
    assert {(p, n) for p, n, _, _ in named} == {("p1", "Renewals"), ("p2", "'=Pensions"), ("p3", "")}
    assert {(t, n) for _, _, t, n in named if t == "t2"} == {("t2", "Projection")}
    assert {n for _, _, t, n in named if t != "t2"} == {""}


def test_text_that_a_spreadsheet_would_run_is_quoted(store: LocalStore) -> None:
    names = [row["cta_name"] for row in export(store, Selection(project_id="p3"))
             if row["event_type"] == "cta.clicked"]
    assert names == ["'=HYPERLINK(\"http://evil\",\"win\")", "'+1 offer"]


def test_an_unknown_or_empty_organization_gets_the_header_only(store: LocalStore) -> None:
    out = io.BytesIO()
    assert exports.write_csv(store, DuckDbEngine(store), "initech", Selection(), out) == 0
    assert out.getvalue().decode().splitlines() == [
        ",".join(f'"{name}"' for name in exports.event_csv_schema().names)]


def test_the_engagement_kind_is_the_curve_one_row_per_bucket(store: LocalStore) -> None:
    selection = Selection(date_from=D1, date_to=D2)
    out = io.BytesIO()
    assert exports.write_csv(store, DuckDbEngine(store), "acme", selection, out, kind="engagement") == 100
    lines = out.getvalue().decode().splitlines()
    assert lines[0] == ",".join(f'"{name}"' for name in exports.ENGAGEMENT_COLUMNS)
    curve = reports.engagement(DuckDbEngine(store), "acme", selection, today=date(2026, 11, 30))
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode()), quoting=csv.QUOTE_NONNUMERIC))
    assert [row["bucket"] for row in rows] == list(range(100))
    for row, bucket in zip(rows, curve["buckets"], strict=True):
        assert row == {**bucket, "plays_with_data": 4, "plays_without_data": 3}
    assert (rows[15]["watched"], rows[15]["watched_again_share"]) == (4, 0.25)  # S1, S2, S8, S10; S2 again


def test_progress_is_reported_per_file_read(store: LocalStore) -> None:
    seen: list[tuple[int, int | None, int]] = []
    rows = exports.write_csv(store, DuckDbEngine(store), "acme", Selection(), io.BytesIO(),
                             progress=lambda done, total, so_far: seen.append((done, total, so_far)))
    files = len(seen)
    assert files > 1 and [done for done, _, _ in seen] == list(range(1, files + 1))
    assert {total for _, total, _ in seen} == {files} and seen[-1][2] == rows
    assert [so_far for _, _, so_far in seen] == sorted(so_far for _, _, so_far in seen)


def test_the_kind_and_the_export_id_are_checked(store: LocalStore) -> None:
    with pytest.raises(ValueError, match="kind"):
        exports.write_csv(store, DuckDbEngine(store), "acme", Selection(), io.BytesIO(), kind="pdf")
    with pytest.raises(ValueError, match="export id"):
        exports.export_key("acme.../../etc")


def test_the_cli_writes_a_file_or_a_stored_export_and_audits_both(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    store = LocalStore(data / "bucket")
    sessions, duplicates = known_sessions()
    ingest(store, sessions, duplicates)
    with pytest.raises(SystemExit) as exited:
        main(["org", "create", "acme", "--data-dir", str(data)])
    assert exited.value.code == 0
    out = tmp_path / "acme.csv"
    where = ["--data-dir", str(data), "--org", "acme"]
    with pytest.raises(SystemExit):
        main(["export", "csv", *where, "--project", "p2", "--out", str(out)])
    assert len(read(out)) == len(export(store, Selection(project_id="p2")))
    with pytest.raises(SystemExit):
        main(["export", "csv", *where, "--kind", "summary", "--from", "2026-11-24", "--to", "2026-11-25"])
    stored = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert stored.is_relative_to(data / "bucket" / "exports" / "org=acme")
    assert [row["date"] for row in read(stored)] == ["2026-11-24", "2026-11-25"]
    records = [json.loads(store.get(key)) for key in store.list("audit/")]
    actions = [(r["action"], r["details"]["kind"], r["details"].get("destination")) for r in records
               if r["action"] == "export.created"]
    assert actions == [("export.created", "events", "file"), ("export.created", "summary", None)]
    assert all(r["actor"].startswith("cli") for r in records if r["action"] == "export.created")
    with pytest.raises(SystemExit) as refused:
        main(["export", "csv", "--org", "globex", "--data-dir", str(data)])
    assert refused.value.code == 2


# -- hostile text ---------------------------------------------------------------------------------

# What a spreadsheet would run (OWASP, CSV injection): = + - @, after blanks, controls or invisible
# characters too, their fullwidth forms, a leading tab or CR.
FORMULAS = ["=1+1", "+1", "-1", "@SUM(A1)", " =1+1", "  @x", "\t=cmd|' /C calc'!A0", "\r=1", "\n=1",
            "\r\n+1", "\u00a0=1", "\u3000-1", "\u200b=1", "\ufeff@x", "\x01=1", "\x00+1", "＝1+1", "＋1",
            "－1", "＠SUM(A1)", " ＝1", "\t", "\tplain", "\rplain", '=HYPERLINK("http://evil","win")']
HARMLESS = ["plain", "a=b", "1+1", "mail@example.com", "'already", " plain", "\nplain", "é=1"]


def quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def test_every_text_cell_is_quoted_and_formulas_get_a_quote_mark_in_every_kind(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    session = Session(DAY1 + timedelta(hours=9), project="hostile").at(0, "session.started")
    for n, text in enumerate(FORMULAS + HARMLESS):
        session.at(n + 1, "cta.clicked", cta_id=f"id-{n}", cta_name=text, cta_value=text)
    session.at(len(FORMULAS + HARMLESS) + 1, "video.errored", error_code="E1", error_message="\t=1")
    ingest(LocalStore(data / "bucket"), [session])
    with pytest.raises(SystemExit):
        main(["org", "create", "acme", "--data-dir", str(data)])
    out = tmp_path / "events.csv"
    with pytest.raises(SystemExit) as exited:
        main(["export", "csv", "--data-dir", str(data), "--org", "acme", "--project", "hostile",
              "--out", str(out)])
    assert exited.value.code == 0
    raw = out.read_bytes().decode()  # as written: read_text() would turn a CR into a newline
    rows = csv.DictReader(io.StringIO(raw, newline=""))
    clicks = [row for row in rows if row["event_type"] == "cta.clicked"]
    shown = {text: "'" + text for text in FORMULAS} | {text: text for text in HARMLESS}
    assert [row["cta_name"] for row in clicks] == [shown[text] for text in FORMULAS + HARMLESS]
    assert [row["cta_value"] for row in clicks] == [row["cta_name"] for row in clicks]
    assert all(quoted(shown[text]) in raw for text in FORMULAS + HARMLESS)  # every text cell quoted
    assert quoted("'\t=1") in raw  # error_message
    assert raw.splitlines()[0] == ",".join(quoted(name) for name in exports.event_csv_schema().names)

    # The summary's text is quoted too, numbers are not, and a text cell a later metric may hold gets
    # the same treatment.
    summary = tmp_path / "summary.csv"
    main_args = ["export", "csv", "--data-dir", str(data), "--org", "acme", "--kind", "summary",
                 "--from", "2026-11-24", "--to", "2026-11-24", "--out", str(summary)]
    with pytest.raises(SystemExit):
        main(main_args)
    header, line = summary.read_text().splitlines()
    assert header == ",".join(quoted(name) for name in ["date", *(m.name for m in metrics.SUMMARY)])
    assert line.startswith('"2026-11-24",1,')
    real = reports.daily_summaries
    monkeypatch.setattr(reports, "daily_summaries", lambda *args, **kwargs: [
        (day, {**values, "views": " =1+1"}) for day, values in real(*args, **kwargs)])
    with pytest.raises(SystemExit):
        main(main_args)
    assert summary.read_text().splitlines()[1].startswith('"2026-11-24","\' =1+1",')
    capsys.readouterr()


def test_the_formula_rule_reads_the_same_in_both_engines() -> None:
    """The events are checked by RE2 (pyarrow), the summary by re: one pattern must mean one thing."""
    texts = [chr(point) + tail for point in [*range(0x3100), *range(0xFE00, 0x10000)]
             if not 0xD800 <= point < 0xE000 for tail in ("", "=1", " +1", "x")]
    by_arrow = pc.match_substring_regex(pa.array(texts), exports._FORMULA_START).to_pylist()
    assert by_arrow == [bool(exports._FORMULA.match(text)) for text in texts]


def test_a_stored_row_no_python_datetime_holds_is_exported_as_stored(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = LocalStore(data / "bucket")
    sessions, duplicates = known_sessions()
    ingest(store, sessions, duplicates)
    hour = datetime(2026, 11, 24, 10)
    table = pq.read_table(pa.BufferReader(store.get(curated_key("acme", hour))))
    impossible = table.column("event_id")[0].as_py()
    make_impossible(store, "acme", hour, impossible)  # event_time in year -7972
    with pytest.raises(SystemExit):
        main(["org", "create", "acme", "--data-dir", str(data)])
    out = tmp_path / "acme.csv"
    with pytest.raises(SystemExit) as exited:
        main(["export", "csv", "--data-dir", str(data), "--org", "acme", "--include-bots", "--out", str(out)])
    assert exited.value.code == 0
    rows = {row["event_id"]: row for row in read(out)}
    assert len(rows) == len(export(store, Selection(include_bots=True)))
    assert (rows[impossible]["occurred_at"], rows[impossible]["sent_at"], rows[impossible]["event_time"]) == (
        "0001-01-01T00:00:00.000Z", "9999-01-01T00:00:00.000Z", "-7972-11-24T10:00:00.500Z")
    # The summary reads the same rows through the query engine (the row's session is in no day of it).
    with pytest.raises(SystemExit) as exited:
        main(["export", "csv", "--data-dir", str(data), "--org", "acme", "--kind", "summary",
              "--from", "2026-11-24", "--to", "2026-11-25", "--out", str(out)])
    assert exited.value.code == 0 and [row["date"] for row in read(out)] == ["2026-11-24", "2026-11-25"]


# -- a large export -------------------------------------------------------------------------------

ROWS, FILES = 200_000, 20


def _write_large(store: LocalStore, org: str, files: int = FILES) -> None:
    """ROWS // FILES curated rows in each of `files` hourly files, as the compactor writes them."""
    per_file = ROWS // FILES
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for hour in range(files):
        at = start + timedelta(hours=hour)
        times = pa.array([at + timedelta(milliseconds=n) for n in range(per_file)], schema.TIMESTAMP)
        columns = {name: pa.nulls(per_file, field.type) for name, field in zip(
            schema.SCHEMA.names, schema.SCHEMA, strict=True)}
        columns.update(
            event_id=pa.array([f"{hour:08x}-0000-4000-8000-{n:012x}" for n in range(per_file)]),
            schema_version=pa.array(["1"] * per_file), occurred_at=times, received_at=times, event_time=times,
            organization_id=pa.array([org] * per_file), project_id=pa.array(["big"] * per_file),
            session_id=pa.array([f"{hour:08x}-1111-4000-8000-{n // 10:012x}" for n in range(per_file)]),
            viewer_hash=pa.array([f"{n % 5000:064x}" for n in range(per_file)]),
            event_type=pa.array(["video.progressed"] * per_file), device_is_bot=pa.array([False] * per_file),
            percent=pa.array([float(n % 100) for n in range(per_file)]),
            locale=pa.array(["es-CL"] * per_file))
        sink = io.BytesIO()
        pq.write_table(pa.table(columns, schema=schema.SCHEMA), sink, compression="snappy")
        store.put(curated_key(org, at.replace(tzinfo=None)), sink.getvalue())


@contextmanager
def measured() -> Iterator[dict[str, int]]:
    """Peak bytes held by Arrow (a fresh pool made the default) and by Python objects (tracemalloc)."""
    found: dict[str, int] = {}
    default = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(default)
    pa.set_memory_pool(pool)
    tracemalloc.start()
    try:
        yield found
    finally:
        found["python"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        pa.set_memory_pool(default)
        found["arrow"] = pool.max_memory()


@pytest.mark.slow
def test_a_large_export_streams_with_flat_memory(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    _write_large(store, "big")
    _write_large(store, "small", files=1)
    engine = DuckDbEngine(store)
    with measured() as small:
        warm_up = exports.create_export(store, engine, "small", Selection(), actor="test")
    assert warm_up.rows == ROWS // FILES
    with measured() as large:
        made = exports.create_export(store, engine, "big", Selection(date_from=date(2026, 10, 1)),
                                     actor="test")
    assert made.rows == ROWS
    path = store.local_path(made.key)
    assert path is not None and path.stat().st_size == made.bytes > 50_000_000
    with path.open() as handle:
        assert sum(1 for _ in handle) == ROWS + 1
    # 20× the rows of the small export, not 2× its memory: one file's batches at a time (measured:
    # about 17 MB of Arrow buffers for a 61 MB CSV whose rows take 70 MB as one Arrow table).
    assert large["arrow"] < 2 * small["arrow"], (small, large)
    assert large["arrow"] < made.bytes / 2, large
    assert large["python"] < 10_000_000, large
