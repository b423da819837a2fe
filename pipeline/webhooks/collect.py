"""Collection, curated -> outbox: an organization's events the compactor committed since its webhook's
`since`, each put in a batch once. A curated day is read again only when its compactor manifest changed;
the manifest is read before the event-id index (the compactor writes them the other way round), so a day
marked looked-at never hides a commit. Batches are written before the seen index and the cursor, under
names fixed by what they hold, so a run cut short rewrites the same batches."""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.curated import schema
from pipeline.curated.commits import compacted_days, manifest_bytes, read_ids
from pipeline.governance.registry import Webhook
from pipeline.layout import curated_key
from pipeline.store.base import Store
from pipeline.webhooks.curated_rows import NEIGHBOUR_DAYS, ORDER, first_per_event, read_curated
from pipeline.webhooks.outbox import (
    HOUR_LABEL,
    Batch,
    Cursor,
    org_prefix,
    outbox_prefix,
    read_seen,
    save_batch,
    save_seen,
)
from pipeline.webhooks.reports import OrgReport


def collect(store: Store, org: str, webhook: Webhook, *, batch_size: int = 500,
            report: OrgReport | None = None) -> OrgReport:
    """Put the organization's newly committed curated events (received from `webhook.since` on) in
    its outbox; see the module docstring."""
    report = report if report is not None else OrgReport()
    since = webhook.since.astimezone(UTC)
    cursor = Cursor(store, org)
    if cursor.since != since.isoformat():
        # A new `since`: look at every day again; the seen indexes keep what was sent from going twice.
        cursor.since, cursor.days = since.isoformat(), {}
    days = compacted_days(store, org)
    present = set(days)
    for key in list(store.list(org_prefix(org) + "seen/")):  # days retention removed from curated
        with contextlib.suppress(ValueError):
            if date.fromisoformat(key.rsplit("date=", 1)[-1].removesuffix(".parquet")) not in present:
                store.delete(key)
    seen: dict[date, pa.Array] = {}
    for day in (day for day in days if day >= since.date()):
        manifest = manifest_bytes(store, org, day)
        if manifest is None:
            continue
        fingerprint = hashlib.sha256(manifest).hexdigest()
        if cursor.days.get(day.isoformat()) == fingerprint:
            continue
        _collect_day(store, org, day, since, fingerprint, seen, batch_size, report)
        cursor.days = {name: value for name, value in cursor.days.items()
                       if date.fromisoformat(name) in present}
        cursor.days[day.isoformat()] = fingerprint
        cursor.save()
    return report


def _seen(store: Store, org: str, day: date, cache: dict[date, pa.Array]) -> pa.Array:
    if day not in cache:
        cache[day] = read_seen(store, org, day)
    return cache[day]


def _collect_day(store: Store, org: str, day: date, since: datetime, fingerprint: str,
                 seen: dict[date, pa.Array], batch_size: int, report: OrgReport) -> None:
    ids = read_ids(store, org, day)  # read after the manifest: at least as new as it
    ids = ids.filter(pc.greater_equal(ids.column("received_at"), pa.scalar(since, schema.TIMESTAMP)))
    # Not yet seen that day, nor within the compactor's deduplication window on either side (an event
    # it moves to an earlier copy in another hour or day is not taken twice).
    around = [_seen(store, org, day + timedelta(days=k), seen)
              for k in range(-NEIGHBOUR_DAYS, NEIGHBOUR_DAYS + 1)]
    known = pa.concat_arrays(around)
    if len(known):
        ids = ids.filter(pc.invert(pc.is_in(ids.column("event_id"), value_set=known)))
    if ids.num_rows == 0:
        return
    found = []
    for hour in sorted(set(ids.column("hour").to_pylist())):
        wanted = ids.filter(pc.equal(ids.column("hour"), hour)).column("event_id").combine_chunks()
        at = datetime(day.year, day.month, day.day, hour)
        table = read_curated(store, curated_key(org, at), ["event_id", "received_at", "organization_id"])
        if table is None:
            continue
        # Only events found in a curated file are taken (and marked seen): one the index lists ahead of
        # its file is taken when its day next changes. Rows of another organization are never taken.
        mask = pc.and_(pc.and_(pc.is_in(table.column("event_id"), value_set=wanted),
                               pc.equal(table.column("organization_id"), org)),
                       pc.greater_equal(table.column("received_at"), pa.scalar(since, schema.TIMESTAMP)))
        rows = table.filter(mask).select(["event_id", "received_at"])
        found.append(rows.append_column("hour", pa.array([f"{at:{HOUR_LABEL}}"] * rows.num_rows,
                                                         pa.string())))
    if not found:
        return
    rows = pa.concat_tables(found)
    rows = first_per_event(rows.take(pc.sort_indices(rows, sort_keys=ORDER)))
    # Times as text, never Python datetimes: a row need not convert to be collected (delivery sets
    # one that does not aside). "%S" of a millisecond timestamp carries the fraction: "05.123".
    received = pc.strftime(rows.column("received_at"), format="%Y%m%dT%H%M%S").to_pylist()
    unique = rows.select(["event_id", "hour"]).to_pylist()
    for number, start in enumerate(range(0, len(unique), batch_size)):
        chunk = unique[start:start + batch_size]
        batch_id = f"{received[start].replace('.', '')}Z-{fingerprint[:12]}-{number:04d}"
        event_ids: dict[str, list[str]] = {}
        for row in chunk:
            event_ids.setdefault(row["hour"], []).append(row["event_id"])
        save_batch(store, f"{outbox_prefix(org)}{batch_id}.json",
                   Batch(batch_id=batch_id, organization_id=org, created_at=datetime.now(UTC),
                         event_ids=event_ids, event_count=len(chunk)))
        report.batches_collected += 1
    report.events_collected += len(unique)
    seen[day] = pa.concat_arrays([_seen(store, org, day, seen),
                                  pa.array([row["event_id"] for row in unique], pa.string())])
    save_seen(store, org, day, seen[day])
