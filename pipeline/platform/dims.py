"""Dimension tables: per organization and table, `history` (every integration event, once by
event_id) and `latest` (each entity's state, folded from its history in occurred_at order, so a late
delivery never overrides a newer change)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from pipeline import layout, parquet
from pipeline.store.base import Store
from translator.canonical import format_timestamp
from translator.platform_events import PlatformEvent, attributes, entity_key

# Each table's columns beyond entity_id and updated_at, with their Arrow types. "unknown" (types
# this version does not know) has a history only.
TABLES: dict[str, dict[str, pa.DataType]] = {
    "projects": {"project_id": pa.string(), "name": pa.string(), "archived": pa.bool_()},
    "templates": {"project_id": pa.string(), "template_id": pa.string(), "template_version": pa.string(),
                  "name": pa.string()},
    "channels": {"project_id": pa.string(), "distribution_channel_id": pa.string(), "kind": pa.string(),
                 "name": pa.string()},
    "shares": {"project_id": pa.string(), "distribution_channel_id": pa.string(),
               "public_share_id": pa.string(), "expires_at": pa.string()},
    "organizations": {"name": pa.string(), "retention_days": pa.int64(), "value_policy": pa.string()},
}
HISTORY_TABLES = (*TABLES, "unknown")
HISTORY = pa.schema([("event_id", pa.string()), ("type", pa.string()), ("occurred_at", pa.string()),
                     ("entity_id", pa.string()), ("attributes", pa.string()), ("received_at", pa.string())])


@dataclass(frozen=True)
class Stored:
    """What storing a batch did: events new to the history, and those it already held."""

    added: list[PlatformEvent]
    duplicates: int


def read_history(store: Store, table: str, org: str) -> list[dict[str, Any]]:
    return _rows(store, layout.dimension_key(table, org, "history"))


def read_latest(store: Store, table: str, org: str) -> list[dict[str, Any]]:
    return _rows(store, layout.dimension_key(table, org, "latest"))


def _rows(store: Store, key: str) -> list[dict[str, Any]]:
    try:
        rows: list[dict[str, Any]] = parquet.from_bytes(store.get(key)).to_pylist()
    except KeyError:
        return []
    return rows


def store_events(store: Store, org: str, events: Sequence[PlatformEvent], received_at: datetime) -> Stored:
    """Add `org`'s events to their tables' histories and refold the latest states they touch. The
    caller holds layout.DIMENSIONS_LOCK."""
    added: list[PlatformEvent] = []
    duplicates = 0
    by_table: dict[str, list[PlatformEvent]] = {}
    for event in events:
        by_table.setdefault(entity_key(event)[0], []).append(event)
    for table, batch in by_table.items():
        history = read_history(store, table, org)
        seen = {row["event_id"] for row in history}
        new = []
        for event in batch:
            if str(event.event_id) in seen:
                duplicates += 1
                continue
            seen.add(str(event.event_id))
            new.append(event)
            history.append({"event_id": str(event.event_id), "type": event.type,
                            "occurred_at": format_timestamp(event.occurred_at),
                            "entity_id": entity_key(event)[1],
                            "attributes": json.dumps(attributes(event), sort_keys=True),
                            "received_at": format_timestamp(received_at)})
        if not new:
            continue
        added.extend(new)
        store.put(layout.dimension_key(table, org, "history"),
                  parquet.to_bytes(pa.Table.from_pylist(history, schema=HISTORY)))
        if table in TABLES:
            store.put(layout.dimension_key(table, org, "latest"), parquet.to_bytes(_latest(table, history)))
    return Stored(added, duplicates)


def fold(history: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each entity's state: its events' attributes applied in (occurred_at, event_id) order."""
    states: dict[str, dict[str, Any]] = {}
    for row in sorted(history, key=lambda row: (row["occurred_at"], row["event_id"])):
        state = states.setdefault(row["entity_id"], {})
        state.update(json.loads(row["attributes"]), updated_at=row["occurred_at"])
    return states


def latest_schema(table: str) -> pa.Schema:
    return pa.schema([("entity_id", pa.string()), *TABLES[table].items(), ("updated_at", pa.string())])


def _latest(table: str, history: list[dict[str, Any]]) -> pa.Table:
    columns, schema = TABLES[table], latest_schema(table)
    rows = [{"entity_id": entity, **{name: state.get(name) for name in columns},
             "updated_at": state["updated_at"]} for entity, state in sorted(fold(history).items())]
    return pa.Table.from_pylist(rows, schema=schema)
