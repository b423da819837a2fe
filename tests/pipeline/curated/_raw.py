"""Stored events and raw objects as the gateway and the writer make them, and the curated rows the
compactor should make of them: what the compactor's tests share."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.curated import schema
from pipeline.layout import raw_key
from pipeline.raw import rawfile
from pipeline.store.base import Store
from tests.translator._payloads import PAYLOADS
from translator.event_parser import parse_event

REPO = Path(__file__).resolve().parents[3]
ARCHITECTURE = REPO / "docs" / "architecture.md"
ORG = "acme"
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
