"""The webhook state in the store (layout.WEBHOOK_STATE, keys in docs/operations.md), per organization:
a cursor of the compactor commits looked at, the seen index of events taken, and the batches in the
outbox or dead-lettered. A batch names its events, never holds them: the body is read from curated when
sent, so DSAR and retention reach unsent batches. Batch ids sort by their first event's receipt time, so
the outbox lists oldest first.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import pyarrow as pa
from pydantic import BaseModel, Field

from pipeline import parquet
from pipeline.layout import WEBHOOK_STATE
from pipeline.store.base import Store
from translator.ids import check_slug

PREFIX = WEBHOOK_STATE.prefix
HOUR_LABEL = "%Y-%m-%dT%H"  # a curated hour as a batch names it (Batch.event_ids)
SEEN_SCHEMA = pa.schema([("event_id", pa.string())])
_VERSION = 1


def org_prefix(org: str) -> str:
    return f"{PREFIX}org={check_slug(org, 'organization')}/"


def outbox_prefix(org: str | None = None) -> str:
    return f"{PREFIX}outbox/" + (f"org={check_slug(org, 'organization')}/" if org is not None else "")


def dead_prefix(org: str | None = None) -> str:
    return f"{PREFIX}dead/" + (f"org={check_slug(org, 'organization')}/" if org is not None else "")


class Batch(BaseModel):
    version: int = _VERSION
    batch_id: str
    organization_id: str
    created_at: datetime
    event_ids: dict[str, list[str]]  # curated hour ("YYYY-MM-DDTHH") -> event ids, as collected
    event_count: int
    attempts: int = 0  # failed attempts since it was collected (or redriven)
    next_attempt_at: float | None = None  # epoch seconds; None: as soon as it is the oldest
    last_error: str | None = None  # "HTTP 503", "timeout (ReadTimeout)", …: never a response body
    dead_at: datetime | None = None
    dead_reason: str | None = None  # "permanent" (a 4xx), "attempts_exhausted" or "unconvertible" (rows)
    redriven: int = 0
    history: list[str] = Field(default_factory=list)  # the errors of the attempts, oldest first


def save_batch(store: Store, key: str, batch: Batch) -> None:
    store.put(key, batch.model_dump_json().encode())


def load_batch(store: Store, key: str) -> Batch:
    batch = Batch.model_validate_json(store.get(key))
    if batch.version != _VERSION:
        raise ValueError(f"{key} has unknown version {batch.version!r}")
    return batch


class Cursor:
    """The compactor commits already looked at, per curated day, for one organization."""

    def __init__(self, store: Store, org: str) -> None:
        self.store = store
        self.key = org_prefix(org) + "cursor.json"
        try:
            data = json.loads(store.get(self.key))
        except KeyError:
            data = {"version": _VERSION, "since": None, "days": {}}
        if data.get("version") != _VERSION:
            raise ValueError(f"{self.key} has unknown version {data.get('version')!r}")
        self.since: str | None = data["since"]
        self.days: dict[str, str] = data["days"]

    def save(self) -> None:
        data = {"version": _VERSION, "since": self.since, "days": dict(sorted(self.days.items()))}
        self.store.put(self.key, json.dumps(data, separators=(",", ":")).encode())


def seen_key(org: str, day: date) -> str:
    return f"{org_prefix(org)}seen/date={day:%Y-%m-%d}.parquet"


def read_seen(store: Store, org: str, day: date) -> pa.Array:
    try:
        table = parquet.from_bytes(store.get(seen_key(org, day)))
    except KeyError:
        return pa.array([], pa.string())
    return table.column("event_id").combine_chunks()


def save_seen(store: Store, org: str, day: date, event_ids: pa.Array) -> None:
    store.put(seen_key(org, day), parquet.to_bytes(pa.table({"event_id": event_ids}, schema=SEEN_SCHEMA)))
