"""DSAR deletion: every event of one viewer in one organization, removed from every zone that holds it
(raw, quarantine, curated, the `viewers` rollup, exports), under `curated_lock`, resumable after a
crash from its record in `state/dsar/`, and idempotent. The walk and its guarantees:
docs/architecture.md (Governance).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import layout, parquet
from pipeline.curated import schema
from pipeline.curated.commits import DayState
from pipeline.curated.compactor import curated_lock
from pipeline.governance import audit
from pipeline.governance.viewer_keys import ViewerKeys, client_hash
from pipeline.layout import curated_key, raw_prefix, rollup_key
from pipeline.query.tables import COMMIT_ROLLUP, CURATED, ROLLUPS
from pipeline.raw import rawfile
from pipeline.reporting.rollups import build_rollups
from pipeline.store.base import Store
from translator.canonical import format_timestamp
from translator.ids import check_slug

JOB_PREFIX = layout.DSAR_STATE.prefix
_VERSION = 1
_CHECKPOINT_EVERY = 500  # objects scanned between saves of the cursor (a resume rescans at most these)
_ZONES = ("raw", "quarantine", "curated", "viewers", "exports")
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

    def keys(self, zone: str) -> list[str]:
        return sorted(key for key in self.removed if _zone_of(key) == zone)

    def count(self, zone: str) -> int:
        return sum(self.removed[key] for key in self.keys(zone))


Progress = Callable[[int, int, DsarReport], None]  # (objects done, objects to do, so far)


def request_id(org: str, viewer_hash: str, keys: ViewerKeys) -> str:
    """The request's name in job records and the audit log: derived from the keyed id, so nobody
    without the viewer key can tell which client hash it was."""
    keyed = keys.keyed(client_hash(viewer_hash))
    return hashlib.sha256(f"percus-dsar:{check_slug(org, 'organization')}:{keyed}".encode()).hexdigest()[:32]


def job_key(org: str, request: str) -> str:
    return f"{JOB_PREFIX}org={check_slug(org, 'organization')}/{request}.json"


def delete_viewer(store: Store, org: str, viewer_hash: str, *, keys: ViewerKeys,
                  progress: Progress | None = None, wait: bool = True,
                  actor: str | None = None) -> DsarReport:
    """Remove every event of the viewer whose client-side hash is `viewer_hash` from `org`'s data.

    Resumes an interrupted run of the same request. `wait=False` raises CompactionBusy instead of
    waiting for a compaction (or retention run) in progress; `actor` goes to the audit record.
    """
    check_slug(org, "organization")
    forms = keys.stored_forms(client_hash(viewer_hash))
    with curated_lock(store, wait=wait):
        return _Job(store, org, request_id(org, viewer_hash, keys), forms, progress, actor).run()


def _zone_of(key: str) -> str:
    if key.startswith(layout.ROLLUPS_ZONE.prefix):
        return "viewers"
    return next(area.name for area in (layout.QUARANTINE, layout.RAW, layout.CURATED, layout.EXPORTS)
                if key.startswith(area.prefix))


def _text(data: bytes) -> bytes:
    """A raw object's text: whatever its gzip members inflate to (the readable part of a corrupt
    one), or the bytes themselves when they are not gzip at all."""
    return rawfile.inflate(data)[0] if data.startswith(b"\x1f\x8b") else data


def _curated_hour(key: str) -> datetime:
    day = CURATED.day_of(key)
    assert day is not None, key
    return datetime(day.year, day.month, day.day, int(key.rsplit("/", 1)[1][:2]))


class _Job:
    def __init__(self, store: Store, org: str, request: str, forms: list[str], progress: Progress | None,
                 actor: str | None) -> None:
        self.store = store
        self.org = org
        self.forms = pa.array(forms, pa.string())
        self.form_bytes = tuple(form.encode() for form in forms)
        self.key_count = len(forms) - 1  # every viewer key, plus the client hash itself
        self.progress = progress
        self.actor = actor
        self.record_key = job_key(org, request)
        self.report = DsarReport(request, org)
        self.rebuild: set[date] | None = None  # rollup days to rebuild, once curated is clean
        try:
            self.state: dict[str, Any] = json.loads(store.get(self.record_key))
            self.report.resumed = True
        except KeyError:
            self.state = {"version": _VERSION, "request_id": request, "organization_id": org,
                          "started_at": format_timestamp(datetime.now(UTC)), "cursor": None,
                          "changed": {}, "rebuilt": [], "finished": False}
        if self.state.get("version") != _VERSION:
            raise ValueError(f"{self.record_key} has unknown version {self.state.get('version')!r}")

    # -- the run -----------------------------------------------------------------------------------

    def run(self) -> DsarReport:
        if not self.state["finished"]:
            plan = [(zone, key) for zone, prefix in self._prefixes() for key in self.store.list(prefix)]
            for number, (zone, key) in enumerate(plan, 1):
                position = [_ZONES.index(zone), key]
                if self.state["cursor"] is not None and position <= self.state["cursor"]:
                    continue  # done by an interrupted run
                if zone in ("viewers", "exports"):
                    self._enter_rollups()
                self._visit(zone, key)
                self.state["cursor"] = position
                self.report.objects_scanned += 1
                if self.report.objects_scanned % _CHECKPOINT_EVERY == 0:
                    self._save()
                if self.progress is not None:
                    self.progress(number, len(plan), self._fill())
            self._enter_rollups()
            self.state["finished"] = True
            self._save()
        self._audit()
        self.store.delete(self.record_key)
        return self._fill()

    def _prefixes(self) -> list[tuple[str, str]]:
        raw = raw_prefix(self.org)
        return [("raw", raw), ("quarantine", layout.quarantine_key(raw)),
                ("curated", CURATED.org_prefix(self.org)), ("viewers", _VIEWERS.org_prefix(self.org)),
                ("exports", layout.EXPORTS.org_prefix(self.org))]

    def _save(self) -> None:
        self.store.put(self.record_key, json.dumps(self.state, sort_keys=True).encode())

    def _intend(self, key: str, removed: int, left: int) -> None:
        """Record a change before making it: a resume that finds the object clean knows what went.
        The cursor saved with it is still the previous object's, so a resume looks at this one again."""
        self.state["changed"][key] = [removed, left]
        self._save()

    def _visit(self, zone: str, key: str) -> None:
        if zone in ("raw", "quarantine"):
            self._scrub_lines(key)
        elif zone == "curated":
            self._scrub_rows(key)
        elif zone == "viewers":
            self._viewers_day(key)
        else:
            self._drop_export(key)

    # -- zones ------------------------------------------------------------------------------------

    def _scrub_lines(self, key: str) -> None:
        try:
            data = self.store.get(key)
        except KeyError:  # gone since the listing (the compactor removes quarantined raw copies)
            return
        lines = _text(data).split(b"\n")
        hits = [any(form in line for form in self.form_bytes) for line in lines]
        if not any(hits):
            return
        kept = [line for line, hit in zip(lines, hits, strict=True) if not hit and line.strip()]
        self._intend(key, sum(hits), len(kept))
        self._replace(key, rawfile.encode(kept) if kept else None)

    def _drop_export(self, key: str) -> None:
        try:
            data = self.store.get(key)
        except KeyError:
            return
        hits = sum(1 for line in data.split(b"\n") if any(form in line for form in self.form_bytes))
        if hits:
            self._intend(key, hits, 0)
            self.store.delete(key)

    def _matches(self, key: str) -> pa.Array | None:
        """Which rows of a Parquet object carry a form (read from the viewer_hash column alone)."""
        path = self.store.local_path(key)
        try:
            source = path if path is not None else pa.BufferReader(self.store.get(key))
            column = pq.read_table(source, columns=["viewer_hash"]).column("viewer_hash")
        except (KeyError, FileNotFoundError):
            return None
        mask = pc.fill_null(pc.is_in(column, value_set=self.forms), False)
        return mask if pc.any(mask).as_py() else None

    def _scrub_rows(self, key: str) -> None:
        mask = self._matches(key)
        if mask is None:
            return
        table = schema.conform(parquet.from_bytes(self.store.get(key)))
        kept = table.filter(pc.invert(mask))
        self._intend(key, table.num_rows - kept.num_rows, kept.num_rows)
        self._replace(key, parquet.to_bytes(kept) if kept.num_rows else None)

    def _replace(self, key: str, data: bytes | None) -> None:
        if data is None:
            self.store.delete(key)
        else:
            self.store.put(key, data)

    def _enter_rollups(self) -> None:
        """Between curated and rollups: make the compactor's event-id index list exactly the rows of
        the curated hours rewritten, and name the rollup days to rebuild.

        The index is derived from the files as they are now, so it is right whether or not an
        interrupted run got this far; redoing it changes nothing."""
        if self.rebuild is not None:
            return
        hours: dict[date, set[datetime]] = {}
        for key in self.state["changed"]:
            if _zone_of(key) == "curated":
                hour = _curated_hour(key)
                hours.setdefault(hour.date(), set()).add(hour)
        for day, day_hours in sorted(hours.items()):
            state = DayState(self.store, self.org, day)
            for hour in sorted(day_hours):
                try:
                    table = parquet.from_bytes(self.store.get(curated_key(self.org, hour)),
                                               columns=["event_id", "received_at"])
                except KeyError:  # the job emptied it
                    table = _NO_IDS
                state.replace_hour(hour.hour, table.column("event_id"), table.column("received_at"))
            state.save_ids()
        # Rollup day D is built from the curated days D-1..D+1.
        self.rebuild = {day + timedelta(days=offset) for day in hours for offset in (-1, 0, 1)}

    def _viewers_day(self, key: str) -> None:
        day = _VIEWERS.day_of(key)
        if day is None:
            return
        assert self.rebuild is not None
        if day in self.rebuild and self._rebuildable(day):
            if day.isoformat() not in self.state["rebuilt"]:
                self.state["rebuilt"].append(day.isoformat())
                self._save()
            self._rebuild(day)
        mask = self._matches(key)
        if mask is None:
            return
        table = parquet.from_bytes(self.store.get(key))
        kept = table.filter(pc.invert(mask))
        self._intend(key, table.num_rows - kept.num_rows, kept.num_rows)
        self.store.put(key, parquet.to_bytes(kept))  # a rolled-up day has every table, empty or not

    def _rebuildable(self, day: date) -> bool:
        """Whether every curated day the rollup was built from is still there, or went because of
        this job (rebuilding after retention took some would count half sessions)."""
        try:
            record = json.loads(self.store.get(layout.rollup_state_key(self.org, day)))
        except KeyError:
            return False  # never finished: the next rollup run builds it from the clean data
        emptied = {_curated_hour(key).date() for key, (_, left) in self.state["changed"].items()
                   if _zone_of(key) == "curated" and not left}
        present = set(CURATED.days(self.store, self.org)) | emptied
        return {date.fromisoformat(text) for text in record["window"]} <= present

    def _rebuild(self, day: date) -> None:
        report = build_rollups(self.store, day=day, org=self.org)
        if report.days_built:
            record = json.loads(self.store.get(layout.rollup_state_key(self.org, day)))
            if record["written"]:
                return
        # Nothing of that day is left: its rollups go, the commit table first (its presence means
        # "complete") and `viewers` last (the job visits a day by it, so a resume finishes the rest),
        # then the record when the build wrote none.
        for name in [COMMIT_ROLLUP, *(name for name in ROLLUPS if name not in (COMMIT_ROLLUP, "viewers")),
                     "viewers"]:
            self.store.delete(rollup_key(name, self.org, day))
        if not report.days_built:
            self.store.delete(layout.rollup_state_key(self.org, day))

    # -- the end ----------------------------------------------------------------------------------

    def _fill(self) -> DsarReport:
        report = self.report
        report.removed = {key: removed for key, (removed, _) in sorted(self.state["changed"].items())}
        report.deleted = sorted(key for key, (_, left) in self.state["changed"].items()
                                if not left and _zone_of(key) != "viewers")
        report.rollup_days_rebuilt = sorted(date.fromisoformat(text) for text in self.state["rebuilt"])
        return report

    def _audit(self) -> None:
        report = self._fill()
        started = datetime.fromisoformat(self.state["started_at"].replace("Z", "+00:00"))
        for earlier in audit.list_records(self.store, org=self.org, action="dsar.completed", since=started):
            if earlier["details"].get("request_id") == report.request_id:
                return  # written just before a crash
        audit.record(self.store, "dsar.completed", {"organization_id": self.org}, {
            "request_id": report.request_id,
            "started_at": self.state["started_at"],
            "viewer_keys_tried": self.key_count,
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
        }, actor=self.actor)

