"""DSAR deletion: every event of one viewer in one organization, removed from every zone that holds it
(the embedded default's local queue first, then raw, quarantine, curated, the `viewers` rollup,
exports, then the viewer's business outcomes and audience memberships), under `curated_lock`,
resumable after a crash from its record in `state/dsar/`, and idempotent. The walk and its
guarantees: docs/architecture.md (Governance).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import layout, parquet
from pipeline.curated import schema
from pipeline.curated.commits import DayState
from pipeline.curated.compactor import curated_lock
from pipeline.governance import audit
from pipeline.governance.dsar_queue import QueueReport, clear_queue
from pipeline.governance.viewer_keys import ViewerKeys, client_hash
from pipeline.layout import curated_key, raw_prefix, rollup_key
from pipeline.progress import Progress
from pipeline.query.tables import COMMIT_ROLLUP, CURATED, ROLLUPS
from pipeline.raw import rawfile
from pipeline.reporting.rollups import build_rollups
from pipeline.store.base import Store
from translator.canonical import format_timestamp
from translator.ids import check_slug

JOB_PREFIX = layout.DSAR_STATE.prefix
_VERSION = 1
_CHECKPOINT_EVERY = 500  # objects scanned between saves of the cursor (a resume rescans at most these)
_ZONES = ("raw", "quarantine", "curated", "viewers", "exports", "outcomes", "audiences")
_VIEWERS = ROLLUPS["viewers"]
_NO_IDS = pa.table({"event_id": pa.array([], pa.string()), "received_at": pa.array([], schema.TIMESTAMP)})


@dataclass
class DsarReport:
    request_id: str
    organization_id: str
    resumed: bool = False  # an interrupted run of the same request was carried on
    objects_scanned: int = 0  # by this run
    removed: dict[str, int] = field(default_factory=dict)  # object key -> lines or rows removed
    deleted: list[str] = field(default_factory=list)  # objects left empty, so removed
    rollup_days_rebuilt: list[date] = field(default_factory=list)
    queue: QueueReport | None = None  # the local queue's part, on the embedded default

    def keys(self, zone: str) -> list[str]:
        return sorted(key for key in self.removed if _zone_of(key) == zone)

    def count(self, zone: str) -> int:
        return sum(self.removed[key] for key in self.keys(zone))


def request_id(org: str, viewer_hash: str, keys: ViewerKeys) -> str:
    """The request's name in job records and the audit log: derived from the keyed id, so nobody
    without the viewer key can tell which client hash it was."""
    keyed = keys.keyed(client_hash(viewer_hash))
    return hashlib.sha256(f"percus-dsar:{check_slug(org, 'organization')}:{keyed}".encode()).hexdigest()[:32]


def job_key(org: str, request: str) -> str:
    return f"{JOB_PREFIX}org={check_slug(org, 'organization')}/{request}.json"


def delete_viewer(store: Store, org: str, viewer_hash: str, *, keys: ViewerKeys,
                  queue: Path | None = None, progress: Progress[DsarReport] | None = None, wait: bool = True,
                  actor: str | None = None) -> DsarReport:
    """Remove every event of the viewer whose client-side hash is `viewer_hash` from `org`'s data.

    `queue` is the directory of a local queue (the embedded default's): it is cleared of the viewer
    first (pipeline/governance/dsar_queue.py); SQS is out of reach, its retention bounds it. Resumes
    an interrupted run of the same request. `wait=False` raises CompactionBusy instead of waiting for
    a compaction (or retention run) in progress; `actor` goes to the audit record.
    """
    check_slug(org, "organization")
    forms = keys.stored_forms(client_hash(viewer_hash))
    # Before the walk lists raw: the queue's records of the viewer are then removed or in raw objects.
    queued = clear_queue(queue, store, forms) if queue is not None else None
    with curated_lock(store, wait=wait):
        record = _Record(store, org, request_id(org, viewer_hash, keys))
        report = DsarReport(record.request, org, resumed=record.resumed, queue=queued)
        if not record.finished:
            _walk(store, org, _Forms(forms), record, report, progress)
        _audit(store, org, record.fill(report), record.started_at, len(forms) - 1, actor)
        record.delete()
        return report


def _zone_of(key: str) -> str:
    if key.startswith(layout.ROLLUPS_ZONE.prefix):
        return "viewers"
    return next(area.name for area in (layout.QUARANTINE, layout.RAW, layout.CURATED, layout.EXPORTS,
                                       layout.OUTCOMES, layout.AUDIENCES)
                if key.startswith(area.prefix))


def _curated_hour(key: str) -> datetime:
    day = CURATED.day_of(key)
    assert day is not None, key
    return datetime(day.year, day.month, day.day, int(key.rsplit("/", 1)[1][:2]))


# -- the job record ---------------------------------------------------------------------------------

class _Record:
    """The job's record in `state/dsar/`: how far the walk got, every change (saved before it is
    made) and the rollup days rebuilt, so an interrupted run resumes where it stopped."""

    def __init__(self, store: Store, org: str, request: str) -> None:
        self.store = store
        self.request = request
        self.key = job_key(org, request)
        try:
            self.state: dict[str, Any] = json.loads(store.get(self.key))
            self.resumed = True
        except KeyError:
            self.state = {"version": _VERSION, "request_id": request, "organization_id": org,
                          "started_at": format_timestamp(datetime.now(UTC)), "cursor": None,
                          "changed": {}, "rebuilt": [], "finished": False}
            self.resumed = False
        if self.state.get("version") != _VERSION:
            raise ValueError(f"{self.key} has unknown version {self.state.get('version')!r}")

    @property
    def finished(self) -> bool:
        return bool(self.state["finished"])

    @property
    def started_at(self) -> str:
        return str(self.state["started_at"])

    def save(self) -> None:
        self.store.put(self.key, json.dumps(self.state, sort_keys=True).encode())

    def passed(self, position: list[Any]) -> bool:
        """Whether an interrupted run already visited the object at `position` (zone, key)."""
        return self.state["cursor"] is not None and bool(position <= self.state["cursor"])

    def advance(self, position: list[Any]) -> None:
        self.state["cursor"] = position  # saved with the next change or checkpoint

    def intend(self, key: str, removed: int, left: int) -> None:
        """Record a change before making it: a resume that finds the object clean knows what went.
        The cursor saved with it is still the previous object's, so a resume looks at this one again."""
        self.state["changed"][key] = [removed, left]
        self.save()

    def rebuilding(self, day: date) -> None:
        if day.isoformat() not in self.state["rebuilt"]:
            self.state["rebuilt"].append(day.isoformat())
            self.save()

    def finish(self) -> None:
        self.state["finished"] = True
        self.save()

    def delete(self) -> None:
        self.store.delete(self.key)

    def curated_hours(self) -> set[datetime]:
        """The curated hours the job rewrote or emptied."""
        return {_curated_hour(key) for key in self.state["changed"] if _zone_of(key) == "curated"}

    def emptied_curated_days(self) -> set[date]:
        return {_curated_hour(key).date() for key, (_, left) in self.state["changed"].items()
                if _zone_of(key) == "curated" and not left}

    def fill(self, report: DsarReport) -> DsarReport:
        """The report's figures, the changes of interrupted runs included."""
        changed = self.state["changed"]
        report.removed = {key: removed for key, (removed, _) in sorted(changed.items())}
        report.deleted = sorted(key for key, (_, left) in changed.items()
                                if not left and _zone_of(key) != "viewers")
        report.rollup_days_rebuilt = sorted(date.fromisoformat(text) for text in self.state["rebuilt"])
        return report


# -- finding the viewer -----------------------------------------------------------------------------

class _Forms:
    """The stored forms of the viewer's id, and where an object holds them."""

    def __init__(self, forms: list[str]) -> None:
        self.array = pa.array(forms, pa.string())
        self.encoded = tuple(form.encode() for form in forms)

    def in_line(self, line: bytes) -> bool:
        return any(form in line for form in self.encoded)

    def rows(self, store: Store, key: str) -> pa.Array | None:
        """Which rows of a Parquet object carry a form (read from the viewer_hash column alone);
        None when none does or the object is gone."""
        path = store.local_path(key)
        try:
            source = path if path is not None else pa.BufferReader(store.get(key))
            column = pq.read_table(source, columns=["viewer_hash"]).column("viewer_hash")
        except (KeyError, FileNotFoundError):
            return None
        mask = pc.fill_null(pc.is_in(column, value_set=self.array), False)
        return mask if pc.any(mask).as_py() else None


def _plan(store: Store, org: str) -> list[tuple[str, str]]:
    """Every object of the organization, as (zone, key), zone by zone in the order of `_ZONES`."""
    raw = raw_prefix(org)
    prefixes = [("raw", raw), ("quarantine", layout.quarantine_key(raw)),
                ("curated", CURATED.org_prefix(org)), ("viewers", _VIEWERS.org_prefix(org)),
                ("exports", layout.EXPORTS.org_prefix(org)), ("outcomes", layout.OUTCOMES.org_prefix(org)),
                ("audiences", layout.AUDIENCES.org_prefix(org))]
    return [(zone, key) for zone, prefix in prefixes for key in store.list(prefix)]


def _walk(store: Store, org: str, forms: _Forms, record: _Record, report: DsarReport,
          progress: Progress[DsarReport] | None) -> None:
    """Visit every object the record's cursor has not passed. Rollups come after curated: once
    curated is clean, the compactor's index is rebuilt and the rollup days it fed are named."""
    plan = _plan(store, org)
    rollups: _RollupDays | None = None
    for number, (zone, key) in enumerate(plan, 1):
        position = [_ZONES.index(zone), key]
        if record.passed(position):
            continue
        if zone in ("raw", "quarantine"):
            _scrub_lines(store, forms, record, key)
        elif zone == "curated":
            _scrub_rows(store, forms, record, key)
        elif zone in ("outcomes", "audiences"):
            _scrub_rows(store, forms, record, key, conform=False)
        else:
            if rollups is None:
                rollups = _RollupDays(store, org, forms, record, _reindex(store, org, record))
            if zone == "viewers":
                rollups.visit(key)
            else:
                _drop_export(store, forms, record, key)
        record.advance(position)
        report.objects_scanned += 1
        if report.objects_scanned % _CHECKPOINT_EVERY == 0:
            record.save()
        if progress is not None:
            progress(number, len(plan), record.fill(report))
    if rollups is None:
        _reindex(store, org, record)
    record.finish()


# -- raw, quarantine and exports: lines of text -----------------------------------------------------

def _text(data: bytes) -> bytes:
    """A raw object's text: whatever its gzip members inflate to (the readable part of a corrupt
    one), or the bytes themselves when they are not gzip at all."""
    return rawfile.inflate(data)[0] if data.startswith(b"\x1f\x8b") else data


def _scrub_lines(store: Store, forms: _Forms, record: _Record, key: str) -> None:
    """Rewrite a raw or quarantined object without the viewer's lines (matched as text, so corrupt
    objects are scrubbed too); delete it when nothing is left."""
    try:
        data = store.get(key)
    except KeyError:  # gone since the listing (the compactor removes quarantined raw copies)
        return
    lines = _text(data).split(b"\n")
    hits = [forms.in_line(line) for line in lines]
    if not any(hits):
        return
    kept = [line for line, hit in zip(lines, hits, strict=True) if not hit and line.strip()]
    record.intend(key, sum(hits), len(kept))
    _replace(store, key, rawfile.encode(kept) if kept else None)


def _drop_export(store: Store, forms: _Forms, record: _Record, key: str) -> None:
    try:
        data = store.get(key)
    except KeyError:
        return
    hits = sum(1 for line in data.split(b"\n") if forms.in_line(line))
    if hits:
        record.intend(key, hits, 0)
        store.delete(key)


def _replace(store: Store, key: str, data: bytes | None) -> None:
    if data is None:
        store.delete(key)
    else:
        store.put(key, data)


# -- curated: rows and the compactor's index --------------------------------------------------------

def _scrub_rows(store: Store, forms: _Forms, record: _Record, key: str, *, conform: bool = True) -> None:
    """Rewrite a Parquet object (curated, outcomes, audiences) without the viewer's rows."""
    mask = forms.rows(store, key)
    if mask is None:
        return
    table = parquet.from_bytes(store.get(key))
    table = schema.conform(table) if conform else table
    kept = table.filter(pc.invert(mask))
    record.intend(key, table.num_rows - kept.num_rows, kept.num_rows)
    _replace(store, key, parquet.to_bytes(kept) if kept.num_rows else None)


def _reindex(store: Store, org: str, record: _Record) -> set[date]:
    """Make the compactor's event-id index list exactly the rows of the curated hours rewritten;
    returns the rollup days those hours fed.

    The index is derived from the files as they are now, so it is right whether or not an
    interrupted run got this far; redoing it changes nothing."""
    hours: dict[date, set[datetime]] = {}
    for hour in record.curated_hours():
        hours.setdefault(hour.date(), set()).add(hour)
    for day, day_hours in sorted(hours.items()):
        state = DayState(store, org, day)
        for hour in sorted(day_hours):
            try:
                table = parquet.from_bytes(store.get(curated_key(org, hour)),
                                           columns=["event_id", "received_at"])
            except KeyError:  # the job emptied it
                table = _NO_IDS
            state.replace_hour(hour.hour, table.column("event_id"), table.column("received_at"))
        state.save_ids()
    # Rollup day D is built from the curated days D-1..D+1.
    return {day + timedelta(days=offset) for day in hours for offset in (-1, 0, 1)}


# -- rollups ----------------------------------------------------------------------------------------

class _RollupDays:
    """The rollup days the rewritten curated hours fed: each is rebuilt from the clean data when that
    is still whole, and its `viewers` rows of the viewer go either way."""

    def __init__(self, store: Store, org: str, forms: _Forms, record: _Record, days: set[date]) -> None:
        self.store = store
        self.org = org
        self.forms = forms
        self.record = record
        self.days = days

    def visit(self, key: str) -> None:
        """One day's `viewers` object (the job visits a rolled-up day by it)."""
        day = _VIEWERS.day_of(key)
        if day is None:
            return
        if day in self.days and self._rebuildable(day):
            self.record.rebuilding(day)
            self._rebuild(day)
        mask = self.forms.rows(self.store, key)
        if mask is None:
            return
        table = parquet.from_bytes(self.store.get(key))
        kept = table.filter(pc.invert(mask))
        self.record.intend(key, table.num_rows - kept.num_rows, kept.num_rows)
        self.store.put(key, parquet.to_bytes(kept))  # a rolled-up day has every table, empty or not

    def _rebuildable(self, day: date) -> bool:
        """Whether every curated day the rollup was built from is still there, or went because of
        this job (rebuilding after retention took some would count half sessions)."""
        try:
            built = json.loads(self.store.get(layout.rollup_state_key(self.org, day)))
        except KeyError:
            return False  # never finished: the next rollup run builds it from the clean data
        present = set(CURATED.days(self.store, self.org)) | self.record.emptied_curated_days()
        return {date.fromisoformat(text) for text in built["window"]} <= present

    def _rebuild(self, day: date) -> None:
        report = build_rollups(self.store, day=day, org=self.org)
        if report.days_built:
            built = json.loads(self.store.get(layout.rollup_state_key(self.org, day)))
            if built["written"]:
                return
        # Nothing of that day is left: its rollups go, the commit table first (its presence means
        # "complete") and `viewers` last (the job visits a day by it, so a resume finishes the rest),
        # then the record when the build wrote none.
        for name in [COMMIT_ROLLUP, *(name for name in ROLLUPS if name not in (COMMIT_ROLLUP, "viewers")),
                     "viewers"]:
            self.store.delete(rollup_key(name, self.org, day))
        if not report.days_built:
            self.store.delete(layout.rollup_state_key(self.org, day))


# -- the end ----------------------------------------------------------------------------------------

def _audit(store: Store, org: str, report: DsarReport, started_at: str, key_count: int,
           actor: str | None) -> None:
    """Audit `dsar.completed` once, also when a crash came between the audit and the job record's
    removal."""
    started = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    for earlier in audit.list_records(store, org=org, action="dsar.completed", since=started):
        if earlier["details"].get("request_id") == report.request_id:
            return  # written just before a crash
    queued = {} if report.queue is None else {
        "queue_records_removed": report.queue.result.records,
        "queue_dead_letters_removed": report.queue.result.dead_letters,
        "queue_corrupt_files_removed": report.queue.result.corrupt_files,
    }
    audit.record(store, "dsar.completed", {"organization_id": org}, {
        **queued,
        "request_id": report.request_id,
        "started_at": started_at,
        "viewer_keys_tried": key_count,
        "raw_objects_rewritten": report.keys("raw"), "raw_lines_removed": report.count("raw"),
        "quarantine_objects_rewritten": report.keys("quarantine"),
        "quarantine_lines_removed": report.count("quarantine"),
        "curated_partitions_rewritten": report.keys("curated"),
        "curated_rows_removed": report.count("curated"),
        "objects_deleted": report.deleted,
        "rollup_days_rebuilt": [day.isoformat() for day in report.rollup_days_rebuilt],
        "viewers_rollups_scrubbed": report.keys("viewers"),
        "viewers_rows_removed": report.count("viewers"),
        "exports_deleted": report.keys("exports"),
        "outcome_partitions_rewritten": report.keys("outcomes"),
        "outcome_rows_removed": report.count("outcomes"),
        "audience_partitions_rewritten": report.keys("audiences"),
        "audience_rows_removed": report.count("audiences"),
    }, actor=actor)
