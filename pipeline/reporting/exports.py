"""CSV exports of a selection of one organization's data: its curated events, its daily summary rows,
its engagement curve, or the business outcomes it posted (keyed like the events' viewer ids, so the
two files join).

Events stream: the organization's curated files are read one Parquet record batch at a time,
filtered, and appended to a CSV file, so memory stays flat whatever the row count. The file is
written to a temporary file first and then published under `exports/org=<org>/<export>.csv`
(a copy on the embedded default, a multipart upload on S3). Every export is recorded in the audit
log: who asked (a key id, never a key), the kind, the selection, and the counts.

Columns are the curated columns (`pipeline/schema.py`), timestamps as ISO-8601 UTC text, with
`project_name` after `project_id` and `template_name` after `template_id` (`pipeline/reporting/names.py`).
There is no IP address or User-Agent to leave out: the gateway never stores them. Text comes from the
viewer's side of the page, so in every kind each text cell is quoted, and one a spreadsheet would run
as a formula gets a leading `'` (OWASP's CSV injection rule, `_FORMULA_START`). Every kind is written
alike (RFC 4180): text quoted, numbers and booleans (`true`, `false`) bare, a null an empty bare cell,
lines ending in CRLF.
"""

from __future__ import annotations

import re
import secrets
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipeline import layout, parquet
from pipeline.curated import schema
from pipeline.governance import audit
from pipeline.progress import Progress
from pipeline.query.base import QueryEngine
from pipeline.query.tables import CURATED, OUTCOMES
from pipeline.reporting import metrics, reports
from pipeline.reporting.names import LABELS, Names
from pipeline.reporting.selection import Selection
from pipeline.store.base import Store
from translator.ids import check_slug

KINDS = ("events", "summary", "engagement", "outcomes")
OUTCOME_COLUMNS = ("outcome_id", "viewer_hash", "name", "value", "currency", "occurred_at", "received_at")
URL_TTL_SECONDS = 24 * 3600
BATCH_ROWS = 16_384
ONE_DAY = timedelta(days=1)
# A text cell starting with a tab or a CR, or with = + - @ or their fullwidth forms after any blanks,
# controls and invisible characters (spreadsheets skip those). Read by RE2 (pyarrow) and by re alike:
# ASCII as escapes both know, the other characters as themselves.
_IGNORED = "\\x00-\\x20\\x7f-\\xa0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff"
_FORMULA_START = f"^(?:[\\t\\r]|[{_IGNORED}]*[=+\\-@\uff1d\uff0b\uff0d\uff20])"
_FORMULA = re.compile(_FORMULA_START)
_EXPORT_NAME = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{16}$")
EOL = "\r\n"  # RFC 4180


@dataclass(frozen=True)
class Export:
    export_id: str  # "<org>.<created>-<random>": names the organization, so a download needs no lookup
    organization_id: str
    key: str
    rows: int
    bytes: int
    created_at: datetime

    @property
    def expires_at(self) -> datetime:
        return self.created_at + timedelta(seconds=URL_TTL_SECONDS)


def export_key(export_id: str) -> str:
    """The object key of an export id; ValueError for anything that is not one."""
    org, _, name = export_id.rpartition(".")
    if not org or not _EXPORT_NAME.fullmatch(name):
        raise ValueError(f"{export_id!r} is not an export id")
    return layout.export_key(org, name)


def create_export(store: Store, engine: QueryEngine, org: str, selection: Selection, *, kind: str = "events",
                  actor: str, now: datetime | None = None, today: date | None = None,
                  progress: Progress[int] | None = None) -> Export:
    """Write the CSV of `selection` (`kind`: one of KINDS) under exports/ and audit it; `actor`
    says who asked (`api_key:<key id>`, `admin_key:<key id>`, `cli:<user>`: never a key itself).
    `progress`: (files read, files to read, rows so far) of the kinds read file by file."""
    check_slug(org, "organization")
    check_selection(kind, selection)
    created = (now or datetime.now(UTC)).astimezone(UTC)
    export_id = f"{org}.{created:%Y%m%dT%H%M%SZ}-{secrets.token_hex(8)}"
    key = export_key(export_id)
    with tempfile.TemporaryDirectory(prefix="percus-export-") as folder:
        path = Path(folder) / "export.csv"
        with open(path, "wb") as out:
            rows = write_csv(store, engine, org, selection, out, kind=kind, today=today, progress=progress)
        size = path.stat().st_size
        store.put_file(key, path)
    audit.record(store, "export.created", {"organization_id": org, "export_id": export_id},
                 {"kind": kind, **selection.as_json(), "rows": rows, "bytes": size, "object_key": key},
                 now=created, actor=actor)
    return Export(export_id, org, key, rows, size, created)


def save_export(store: Store, engine: QueryEngine, org: str, selection: Selection, path: Path, *,
                kind: str = "events", actor: str, today: date | None = None,
                progress: Progress[int] | None = None) -> int:
    """Write the CSV of `selection` to a local file (`percus export csv --out`), audited like a stored
    export (the file's path is not recorded); returns the number of data rows."""
    check_slug(org, "organization")
    _check_kind(kind)  # before opening `path` empties it
    check_selection(kind, selection)
    with open(path, "wb") as out:
        rows = write_csv(store, engine, org, selection, out, kind=kind, today=today, progress=progress)
    audit.record(store, "export.created", {"organization_id": org},
                 {"kind": kind, **selection.as_json(), "rows": rows, "bytes": path.stat().st_size,
                  "destination": "file"}, actor=actor)
    return rows


def write_csv(store: Store, engine: QueryEngine, org: str, selection: Selection, out: BinaryIO, *,
              kind: str = "events", today: date | None = None, progress: Progress[int] | None = None) -> int:
    """Stream the CSV of `selection` to `out`; returns the number of data rows. `progress`: as for
    create_export (the summary and engagement kinds are one query each: they report none)."""
    _check_kind(kind)
    if kind == "summary":
        return _write_summary(engine, org, selection, out, today=today)
    if kind == "engagement":
        return _write_engagement(engine, org, selection, out, today=today)
    if kind == "outcomes":
        return _write_outcomes(store, org, selection, out, progress)
    rows, csv_schema, names = 0, event_csv_schema(), Names.read(store, org)

    def file_read(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total, rows)

    # "needed" quotes every value of a string column, whatever it holds, and no number or empty cell.
    options = pacsv.WriteOptions(quoting_style="needed", eol=EOL)
    with pacsv.CSVWriter(out, csv_schema, write_options=options) as writer:
        for batch in _event_batches(store, org, selection, file_read):
            writer.write_batch(_for_csv(batch, csv_schema, names))
            rows += batch.num_rows
    return rows


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")


def check_selection(kind: str, selection: Selection) -> None:
    """Outcomes belong to no project or template: a filter by one would be silently ignored."""
    for name in ("project_id", "template_id"):
        if kind == "outcomes" and getattr(selection, name) is not None:
            raise ValueError(f"{name} does not apply to kind outcomes (an outcome has no project or "
                             "template)")


def _event_batches(store: Store, org: str, selection: Selection,
                   file_read: Callable[[int, int], None]) -> Iterator[pa.RecordBatch]:
    """The selected curated rows, file by file and batch by batch (dated by event_time, UTC);
    `file_read(files done, files)` after each file."""
    start = datetime.combine(selection.date_from, time(), UTC) if selection.date_from else None
    end = datetime.combine(selection.date_to + ONE_DAY, time(), UTC) if selection.date_to else None
    # A row's file is the day of its receipt, which lags its event time (and, in files compacted
    # before event_time was capped at received_at, could lead it by clock skew).
    days = [day for day in CURATED.days(store, org)
            if (selection.date_from is None or day >= selection.date_from - ONE_DAY)
            and (selection.date_to is None or day <= selection.date_to + ONE_DAY)]
    keys = [key for _, key in CURATED.keys(store, org, days)]
    for number, key in enumerate(keys, start=1):
        path = store.local_path(key)
        source = pq.ParquetFile(path if path is not None else pa.BufferReader(store.get(key)))
        for batch in source.iter_batches(batch_size=BATCH_ROWS):
            rows = schema.conform(pa.Table.from_batches([batch]))
            keep = pc.equal(rows["organization_id"], org)  # the partition says so; the rows must too
            for name in ("project_id", "template_id"):
                if getattr(selection, name) is not None:
                    keep = pc.and_(keep, pc.equal(rows[name], getattr(selection, name)))
            if not selection.include_bots:
                keep = pc.and_(keep, pc.invert(pc.fill_null(rows["device_is_bot"], False)))
            if start is not None:
                keep = pc.and_(keep, pc.greater_equal(rows["event_time"], start))
            if end is not None:
                keep = pc.and_(keep, pc.less(rows["event_time"], end))
            selected = rows.filter(pc.fill_null(keep, False))
            yield from selected.to_batches()
        file_read(number, len(keys))


def event_csv_schema() -> pa.Schema:
    """The curated columns, each id of LABELS followed by its name."""
    fields = []
    for field in schema.SCHEMA:
        fields.append(pa.field(field.name, pa.string() if pa.types.is_timestamp(field.type) else field.type))
        if field.name in LABELS:
            fields.append(pa.field(LABELS[field.name], pa.string()))
    return pa.schema(fields)


def _named(column: pa.Array, names: dict[str, str | None]) -> pa.Array:
    """The name of each id of `column` (null for an id no integration event named)."""
    known = [(key, name) for key, name in names.items() if name is not None]
    index = pc.index_in(column, value_set=pa.array([key for key, _ in known], pa.string()))
    return pc.take(pa.array([name for _, name in known], pa.string()), index)


def _for_csv(batch: pa.RecordBatch, csv_schema: pa.Schema, names: Names) -> pa.RecordBatch:
    columns = []
    for field in schema.SCHEMA:
        column = batch[field.name]
        if pa.types.is_timestamp(field.type):
            # %S of a millisecond timestamp carries the fraction: 2026-11-25T10:00:00.123Z. Arrow also
            # formats a stored time outside years 1-9999, which no Python datetime holds.
            column = pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ")
        elif pa.types.is_string(field.type):
            column = _spreadsheet_safe(column)
        columns.append(column)
        if field.name in LABELS:
            table = names.projects if field.name == "project_id" else names.templates
            columns.append(_spreadsheet_safe(_named(batch[field.name], table)))
    return pa.RecordBatch.from_arrays(columns, schema=csv_schema)


def _spreadsheet_safe(column: pa.Array) -> pa.Array:
    return pc.if_else(pc.match_substring_regex(column, _FORMULA_START),
                      pc.binary_join_element_wise("'", column, ""), column)


def _cell(value: object) -> str:
    """A cell as the events' writer (`_for_csv`, quoting "needed") writes one: text quoted, with a `'`
    before what a spreadsheet would run; numbers and booleans bare; None empty and bare (the csv
    module's QUOTE_NONNUMERIC would write `""`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    text = str(value)
    if _FORMULA.match(text):
        text = "'" + text
    return '"' + text.replace('"', '""') + '"'


def _write_summary(engine: QueryEngine, org: str, selection: Selection, out: BinaryIO, *,
                   today: date | None) -> int:
    """One row per day of the range: the summary metrics of the sessions that started that day."""
    summaries = reports.daily_summaries(engine, org, selection, today=today)
    names = [metric.name for metric in metrics.SUMMARY]
    return _write_rows(out, ["date", *names],
                       [[day.isoformat(), *(values[name] for name in names)] for day, values in summaries])


ENGAGEMENT_COLUMNS = ("bucket", "watched", "watched_again", "watched_share", "watched_again_share",
                      "plays_with_data", "plays_without_data")


def _write_engagement(engine: QueryEngine, org: str, selection: Selection, out: BinaryIO, *,
                      today: date | None) -> int:
    """One row per bucket of 1 % of the video: the `engagement` report, with its play counts on each row."""
    curve = reports.engagement(engine, org, selection, today=today)
    rows = [{**curve, **bucket} for bucket in curve["buckets"]]
    return _write_rows(out, list(ENGAGEMENT_COLUMNS),
                       [[row[name] for name in ENGAGEMENT_COLUMNS] for row in rows])


def _write_rows(out: BinaryIO, header: list[str], rows: list[list[object]]) -> int:
    lines: list[list[object]] = [list(header), *rows]
    for line in lines:
        out.write((",".join(map(_cell, line)) + EOL).encode())
    return len(rows)


def _write_outcomes(store: Store, org: str, selection: Selection, out: BinaryIO,
                    progress: Progress[int] | None) -> int:
    """The outcomes that occurred on the range's days, one row per outcome_id (its first copy), by time."""
    days = [day for day in OUTCOMES.days(store, org)
            if (selection.date_from is None or day >= selection.date_from)
            and (selection.date_to is None or day <= selection.date_to)]
    found: dict[str, dict[str, object]] = {}
    keys = [key for _, key in OUTCOMES.keys(store, org, days)]
    for number, key in enumerate(keys, start=1):
        try:
            rows = parquet.from_bytes(store.get(key)).to_pylist()
        except KeyError:  # removed since the listing (retention, DSAR)
            rows = []
        for row in rows:
            held = found.get(str(row["outcome_id"]))
            if held is None or row["received_at"] < held["received_at"]:
                found[str(row["outcome_id"])] = row
        if progress is not None:
            progress(number, len(keys), len(found))
    rows = []
    for row in sorted(found.values(), key=lambda row: (row["occurred_at"], str(row["outcome_id"]))):
        value = row["value"]
        cells = {**row, "value": None if value is None else Decimal(str(value)).normalize(),
                 "occurred_at": _stamp(row["occurred_at"]), "received_at": _stamp(row["received_at"])}
        rows.append([cells[name] for name in OUTCOME_COLUMNS])
    return _write_rows(out, list(OUTCOME_COLUMNS), rows)


def _stamp(value: object) -> str:
    assert isinstance(value, datetime)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
