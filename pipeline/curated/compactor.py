"""Raw NDJSON.gz objects to curated Parquet, one row per unique event_id (columns: pipeline/schema.py),
committed per organization-day in pipeline/curated/commits.py. Repeatable, crash-safe, and the only
writer of `curated/` (under `curated_lock` locally; reserved concurrency 1 on AWS). Deduplication,
quarantine and locking: docs/architecture.md (Compaction and rollups).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import layout, parquet
from pipeline.curated import schema
from pipeline.curated.commits import DayState
from pipeline.curated.shares import KnownShares
from pipeline.governance import audit
from pipeline.layout import curated_key, parse_raw_key, raw_hour_prefix, raw_prefix
from pipeline.progress import Progress
from pipeline.raw.reader import Corruption, RawRead, read_raw
from pipeline.store.base import Store
from pipeline.store.lock import Busy, store_lock
from translator.ids import check_slug

DEDUP_WINDOW = timedelta(hours=48)
# Partitions read and checked ahead of the one being merged, each in a thread of its own.
READ_AHEAD = 2


@dataclass
class CompactionReport:
    raw_objects_read: int = 0
    events_in: int = 0  # valid events in the raw objects read
    duplicates_dropped: int = 0  # events_in minus the net growth of the curated zone
    events_rejected: int = 0  # lines of corrupt objects that are not valid events
    rows_written: int = 0  # rows of the curated files written (whole files, old rows included)
    partitions_written: list[str] = field(default_factory=list)  # curated keys
    quarantined_objects: list[str] = field(default_factory=list)  # raw keys moved to quarantine/
    # The receipt times of the events taken in, per partition: their freshness (pipeline/freshness.py)
    received_at: list[pa.ChunkedArray] = field(default_factory=list)


class CompactionBusy(Busy):
    """Another process holds the curated lock and the caller chose not to wait."""


def curated_lock(store: Store, *, wait: bool = True) -> contextlib.AbstractContextManager[None]:
    """Exclusive right to rewrite curated partitions and compactor state (local stores only)."""
    return store_lock(store, layout.COMPACTOR_LOCK, CompactionBusy,
                      "another compaction is running on this store", wait=wait)


def compact(store: Store, *, hour: datetime | None = None, orgs: Sequence[str] | None = None,
            progress: Progress[CompactionReport] | None = None, wait: bool = True,
            dedup_window: timedelta = DEDUP_WINDOW) -> CompactionReport:
    """Compact every raw object not yet in the curated zone (of one hour, of some organizations).

    `hour` (UTC; naive means UTC) limits the run to that raw hour; `orgs` to those organizations
    (with `hour`, only their hour prefixes are listed). `wait=False` raises CompactionBusy instead
    of waiting for a running compaction.
    """
    if hour is not None:
        if hour.tzinfo is not None:
            hour = hour.astimezone(UTC).replace(tzinfo=None)
        hour = hour.replace(minute=0, second=0, microsecond=0)
    with curated_lock(store, wait=wait):
        return _Run(store, dedup_window, progress).run(hour, orgs)


def _deduplicated(table: pa.Table) -> pa.Table:
    """One row per event_id (the earliest received_at, then the earliest position in the table),
    ordered by received_at then event_id, so the same rows always make the same file."""
    # One sort, on a timestamp first (sort_indices is stable: equal keys keep the table's order), then
    # each event_id's first row in that order: pc.unique lists the ids in order of first occurrence
    # and index_in finds that occurrence, so the rows kept are still in order.
    order = pc.sort_indices(table.select(["received_at", "event_id"]),
                            sort_keys=[("received_at", "ascending"), ("event_id", "ascending")])
    ids = table.column("event_id").take(order).combine_chunks()
    unique = pc.unique(ids)
    if len(unique) == len(ids):
        return table.take(order)
    return table.take(order.take(pc.index_in(unique, value_set=ids)))


def _list_raw(store: Store, hour: datetime | None, orgs: Sequence[str] | None) -> dict[
        tuple[str, datetime], dict[str, str]]:
    """Raw objects by (organization, hour): batch id -> key."""
    if orgs is None:
        prefixes = [layout.RAW.prefix]
    elif hour is None:
        prefixes = [raw_prefix(org) for org in orgs]
    else:
        prefixes = [raw_hour_prefix(org, hour) for org in orgs]
    found: dict[tuple[str, datetime], dict[str, str]] = {}
    for prefix in prefixes:
        for key in store.list(prefix):
            parsed = parse_raw_key(key)
            if parsed is None or (hour is not None and parsed[1] != hour):
                continue
            org, raw_hour, batch = parsed
            with contextlib.suppress(ValueError):  # not an organization id: not the writer's
                found.setdefault((check_slug(org), raw_hour), {})[batch] = key
    return found


# A partition's new raw objects as (key, data), key -> batch id, and what they hold.
_Taken = tuple[list[tuple[str, bytes]], dict[str, str], RawRead]


def _take(store: Store, org: str, new: dict[str, str]) -> _Taken:
    """Read one organization's new raw objects (batch id -> key) of an hour and check their events."""
    objects, batches = [], {}
    for batch, key in new.items():
        with contextlib.suppress(KeyError):  # gone since the listing (retention): nothing to take
            objects.append((key, store.get(key)))
            batches[key] = batch
    return objects, batches, read_raw(objects, org)


def _quarantine(store: Store, org: str, hour: datetime, objects: list[tuple[str, bytes]],
                corrupt: Mapping[str, Corruption]) -> None:
    """Copy the corrupt objects to `quarantine/` and audit each. The raw objects are deleted only
    after the commit: until then they are what a redo reads."""
    for key, data in objects:
        if key in corrupt:
            store.put(layout.quarantine_key(key), data)
            audit.record(store, "raw.quarantined", {"organization_id": org, "hour": f"{hour:%Y-%m-%dT%H}"},
                         {"raw_key": key, "quarantine_key": layout.quarantine_key(key),
                          **corrupt[key].as_json()})


class _Commits:
    """The commit state (manifest and event-id index) of the organization-days a run touches,
    and the raw objects to delete once they are committed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.states: dict[tuple[str, date], DayState] = {}
        self.dirty: set[DayState] = set()  # changed since the last commit
        self.to_unlink: list[str] = []  # corrupt raw objects to remove after the next commit

    def day(self, org: str, day: date) -> DayState:
        if (org, day) not in self.states:
            self.states[org, day] = DayState(self.store, org, day)
        return self.states[org, day]

    def changed(self, state: DayState) -> None:
        self.dirty.add(state)

    def unlink_after_commit(self, keys: Iterable[str]) -> None:
        self.to_unlink.extend(keys)

    def commit(self) -> None:
        """Make the work since the last commit durable: indexes first, then the manifests.

        Committing once per organization-day rather than per hour keeps the index writes few; a
        crash only means the uncommitted hours are redone.
        """
        for state in self.dirty:
            state.save_ids()
        for state in self.dirty:
            state.save_manifest()
        self.dirty.clear()
        for key in self.to_unlink:  # their quarantine copies exist and the manifests name them
            self.store.delete(key)
        self.to_unlink.clear()

    def forget_distant(self, org: str, hour: datetime, window: timedelta) -> None:
        """Keep in memory only the indexes the next partition's deduplication reads."""
        first, last = (hour - window).date(), (hour + window).date()
        for (state_org, day), state in self.states.items():
            if state not in self.dirty and (state_org != org or not first <= day <= last):
                state.forget_ids()


def _against_other_hours(commits: _Commits, org: str, hour: datetime, table: pa.Table,
                         window: timedelta) -> tuple[pa.Table, dict[datetime, list[str]]]:
    """Settle events that also sit in another hour within the window, by the commit state's event-id
    indexes: the earliest received copy wins.

    Returns the partition without the events it loses, and per other hour the events it wins.
    """
    if table.num_rows == 0:
        return table, {}
    candidates = table.column("event_id").combine_chunks()
    first, last = hour - window, hour + window
    copies: dict[str, list[tuple[datetime, datetime]]] = {}  # event_id -> [(received_at, hour)]
    day = first.date()
    while day <= last.date():
        ids = commits.day(org, day).ids
        if ids.num_rows:
            hits = ids.filter(pc.is_in(ids.column("event_id"), value_set=candidates))
            for row in hits.to_pylist():
                other = datetime(day.year, day.month, day.day, row["hour"])
                if other != hour and first <= other <= last:
                    copies.setdefault(row["event_id"], []).append((row["received_at"], other))
        day += timedelta(days=1)
    if not copies:
        return table, {}
    shared = table.filter(pc.is_in(table.column("event_id"), value_set=pa.array(list(copies))))
    lost: list[str] = []
    won: dict[datetime, list[str]] = {}
    for event_id, received_at in zip(shared.column("event_id").to_pylist(),
                                     shared.column("received_at").to_pylist(), strict=True):
        mine = (received_at, hour)
        winner = min([mine, *copies[event_id]])
        if winner != mine:
            lost.append(event_id)
        for copy in copies[event_id]:
            if copy != winner:
                won.setdefault(copy[1], []).append(event_id)
    if lost:
        table = table.filter(pc.invert(pc.is_in(table.column("event_id"), value_set=pa.array(lost))))
    return table, won


class _Curated:
    """Merges new events into the curated hour files: one row per event_id in an hour, and the
    earliest received copy among the hours within the window. Counts what it writes for the report."""

    def __init__(self, store: Store, commits: _Commits, window: timedelta, report: CompactionReport) -> None:
        self.store = store
        self.commits = commits
        self.window = window
        self.report = report
        self.written: dict[str, int] = {}  # curated key -> rows, for the report
        self._known: dict[str, KnownShares] = {}

    def known(self, org: str) -> KnownShares:
        """The shares and channels `org` published, read once per run."""
        if org not in self._known:
            self._known[org] = KnownShares.read(self.store, org)
        return self._known[org]

    def merge(self, org: str, hour: datetime, new: pa.Table) -> int:
        """Merge `new` into (org, hour)'s file and update the index; returns the net growth of the zone."""
        key = curated_key(org, hour)
        existing = self._read(key)
        old_rows = existing.num_rows if existing is not None else 0
        merged = pa.concat_tables([t for t in (existing, new) if t is not None])
        kept = _deduplicated(merged.append_column("_new", pc.greater_equal(
            pa.array(range(merged.num_rows), pa.int64()), old_rows)))
        kept, elsewhere = _against_other_hours(self.commits, org, hour, kept, self.window)
        changed = kept.num_rows != old_rows or pc.any(kept.column("_new")).as_py()
        kept = kept.drop_columns(["_new"])
        growth: int = kept.num_rows - old_rows
        if changed:
            self._write(key, kept)
        for other_hour, event_ids in sorted(elsewhere.items()):
            growth -= self._remove_rows(org, other_hour, event_ids)
        state = self.commits.day(org, hour.date())
        if changed:  # an hour's count is its file's rows', counted again whenever the file changes
            state.unknown_share[hour.hour] = self.known(org).unknown(kept)
        state.replace_hour(hour.hour, kept.column("event_id"), kept.column("received_at"))
        self.commits.changed(state)
        return growth

    def _read(self, key: str) -> pa.Table | None:
        try:
            data = self.store.get(key)
        except KeyError:
            return None
        return schema.conform(parquet.from_bytes(data))

    def _write(self, key: str, table: pa.Table) -> None:
        if table.num_rows:
            self.store.put(key, parquet.to_bytes(table))
        else:  # every row has an earlier copy elsewhere
            self.store.delete(key)
        if key not in self.written:
            self.report.partitions_written.append(key)
        self.written[key] = table.num_rows  # a file rewritten in the same run counts once
        self.report.rows_written = sum(self.written.values())

    def _remove_rows(self, org: str, hour: datetime, event_ids: list[str]) -> int:
        """Drop later copies from another hour's curated file; returns the rows removed."""
        key = curated_key(org, hour)
        table = self._read(key)
        removed = 0
        if table is not None:
            kept = table.filter(pc.invert(pc.is_in(table.column("event_id"),
                                                   value_set=pa.array(event_ids, pa.string()))))
            removed = table.num_rows - kept.num_rows
            if removed:
                self._write(key, kept)
                self.commits.day(org, hour.date()).unknown_share[hour.hour] = self.known(org).unknown(kept)
        state = self.commits.day(org, hour.date())
        state.remove(hour.hour, event_ids)
        self.commits.changed(state)
        return removed


class _Run:
    """One compaction: plans the (organization, hour)s with new raw objects, takes each in, and
    commits once per organization-day."""

    def __init__(self, store: Store, window: timedelta, progress: Progress[CompactionReport] | None) -> None:
        self.store = store
        self.window = window
        self.progress = progress
        self.report = CompactionReport()
        self.commits = _Commits(store)
        self.curated = _Curated(store, self.commits, window, self.report)

    def run(self, hour: datetime | None, orgs: Sequence[str] | None) -> CompactionReport:
        plan = self._plan(_list_raw(self.store, hour, orgs))
        current = None
        # The next partitions' raw objects are read and checked (pure work on immutable objects, mostly
        # in pyarrow, which releases the GIL) while this one is merged and written: READ_AHEAD of them.
        with ThreadPoolExecutor(max_workers=READ_AHEAD, thread_name_prefix="compact-read") as pool:
            reads: dict[int, Future[_Taken]] = {}

            def read_ahead(index: int) -> None:
                if index < len(plan):
                    org, _, new = plan[index]
                    reads[index] = pool.submit(_take, self.store, org, new)

            for index in range(READ_AHEAD):
                read_ahead(index)
            for number, (org, raw_hour, _) in enumerate(plan, 1):
                read_ahead(number - 1 + READ_AHEAD)
                taken = reads.pop(number - 1).result()
                if current not in (None, (org, raw_hour.date())):
                    self.commits.commit()
                current = (org, raw_hour.date())
                self.commits.forget_distant(org, raw_hour, self.window)
                self._partition(org, raw_hour, taken)
                if self.progress is not None:
                    self.progress(number, len(plan), self.report)
        self.commits.commit()
        return self.report

    def _plan(self, listing: dict[tuple[str, datetime], dict[str, str]]) -> list[
            tuple[str, datetime, dict[str, str]]]:
        """The (organization, hour)s with raw objects their manifest does not name, in order."""
        plan = []
        for (org, raw_hour), batches in sorted(listing.items()):
            state = self.commits.day(org, raw_hour.date())
            for batch in state.quarantined.get(raw_hour.hour, set()) & batches.keys():
                self.store.delete(batches[batch])  # a move to quarantine a crash interrupted
            new = {batch: key for batch, key in sorted(batches.items())
                   if not state.is_done(raw_hour.hour, batch)}
            if new:
                plan.append((org, raw_hour, new))
        return plan

    def _partition(self, org: str, hour: datetime, taken: _Taken) -> None:
        """Take one (organization, hour)'s new raw objects, read by _take, into its curated file."""
        objects, batches, read = taken
        report = self.report
        report.raw_objects_read += len(objects)
        report.events_in += read.table.num_rows
        report.received_at.append(read.table.column("received_at"))
        report.events_rejected += sum(verdict.rejected for verdict in read.corrupt.values())
        _quarantine(self.store, org, hour, objects, read.corrupt)
        growth = self.curated.merge(org, hour, read.table)
        self.commits.day(org, hour.date()).commit(
            hour.hour, [batch for key, batch in batches.items() if key not in read.corrupt],
            [batches[key] for key in read.corrupt])
        self.commits.unlink_after_commit(read.corrupt)
        report.quarantined_objects.extend(read.corrupt)
        report.duplicates_dropped += read.table.num_rows - growth
