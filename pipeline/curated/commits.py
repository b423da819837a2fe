"""What the compactor has done, per organization and day: the manifest (the raw batches each hour took
in or quarantined), which is the commit, and the event-id index that finds a duplicate in another
hour without reading curated files. Order of writes and crash repair: docs/architecture.md
(Compaction and rollups).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import layout, parquet
from pipeline.curated.schema import TIMESTAMP
from pipeline.store.base import Store

IDS_SCHEMA = pa.schema([("hour", pa.int8()), ("event_id", pa.string()), ("received_at", TIMESTAMP)])
_VERSION = 1


def compacted_days(store: Store, org: str) -> list[date]:
    """The days of an organization the compactor has committed something for, sorted."""
    found = {layout.compactor_state_day(key) for key in store.list(layout.COMPACTOR_STATE.org_prefix(org))}
    return sorted(day for day in found if day is not None)


def manifest_bytes(store: Store, org: str, day: date) -> bytes | None:
    """The day's commit record as stored (its bytes change whenever the day's curated files do)."""
    try:
        return store.get(layout.compactor_state_prefix(org, day) + "manifest.json")
    except KeyError:
        return None


def unknown_share(store: Store, org: str, days: Iterable[date]) -> int:
    """The organization's curated events of these (received) days whose share token named a share or
    channel the platform had not published when they were compacted."""
    return sum(sum(DayState(store, org, day).unknown_share.values()) for day in days)


def read_ids(store: Store, org: str, day: date) -> pa.Table:
    """The day's event-id index: (hour, event_id, received_at) of every curated row."""
    key = layout.compactor_state_prefix(org, day) + "ids.parquet"
    try:
        return parquet.from_bytes(store.get(key))
    except KeyError:
        return IDS_SCHEMA.empty_table()


class DayState:
    """One organization-day of compactor state; ids are read only when deduplication needs them."""

    def __init__(self, store: Store, org: str, day: date) -> None:
        self.store = store
        self.org = org
        self.day = day
        self._prefix = layout.compactor_state_prefix(org, day)
        try:
            manifest = json.loads(store.get(self._prefix + "manifest.json"))
        except KeyError:
            manifest = {"version": _VERSION, "done": {}, "quarantined": {}}
        if manifest.get("version") != _VERSION:
            raise ValueError(f"{self._prefix}manifest.json has unknown version {manifest.get('version')!r}")
        self.done = {int(hour): set(batches) for hour, batches in manifest["done"].items()}
        self.quarantined = {int(hour): set(batches) for hour, batches in manifest["quarantined"].items()}
        # Per hour, the curated rows whose share token named a share not known when they were compacted
        # (pipeline/curated/shares.py): committed with the hour, so a repeated run counts them once.
        self.unknown_share = {int(hour): int(n) for hour, n in manifest.get("unknown_share", {}).items()}
        self._ids: pa.Table | None = None

    @property
    def ids(self) -> pa.Table:
        if self._ids is None:
            self._ids = read_ids(self.store, self.org, self.day)
        return self._ids

    def forget_ids(self) -> None:
        """Free the index (it is saved after every change) until it is needed again."""
        self._ids = None

    def is_done(self, hour: int, batch: str) -> bool:
        return batch in self.done.get(hour, ()) or batch in self.quarantined.get(hour, ())

    def replace_hour(self, hour: int, event_ids: pa.ChunkedArray, received_at: pa.ChunkedArray) -> None:
        others = self.ids.filter(pc.not_equal(self.ids.column("hour"), hour))
        mine = pa.table({"hour": pa.repeat(pa.scalar(hour, pa.int8()), len(event_ids)),
                         "event_id": event_ids, "received_at": received_at}, schema=IDS_SCHEMA)
        self._ids = pa.concat_tables([others, mine])

    def remove(self, hour: int, event_ids: list[str]) -> None:
        ids = self.ids
        gone = pc.and_(pc.equal(ids.column("hour"), hour),
                       pc.is_in(ids.column("event_id"), value_set=pa.array(event_ids, pa.string())))
        self._ids = ids.filter(pc.invert(gone))

    def commit(self, hour: int, done: list[str], quarantined: list[str]) -> None:
        self.done.setdefault(hour, set()).update(done)
        self.quarantined.setdefault(hour, set()).update(quarantined)

    def save_ids(self) -> None:
        self.store.put(self._prefix + "ids.parquet", parquet.to_bytes(self.ids))

    def save_manifest(self) -> None:
        manifest = {
            "version": _VERSION,
            "done": {f"{hour:02d}": sorted(batches)
                     for hour, batches in sorted(self.done.items()) if batches},
            "quarantined": {f"{hour:02d}": sorted(batches)
                            for hour, batches in sorted(self.quarantined.items()) if batches},
        }
        if any(self.unknown_share.values()):
            manifest["unknown_share"] = {f"{hour:02d}": n
                                         for hour, n in sorted(self.unknown_share.items()) if n}
        self.store.put(self._prefix + "manifest.json", json.dumps(manifest, separators=(",", ":")).encode())
