"""An organization's curated rows as webhooks read and send them: an hour file, the order events go out
in, the first row of each event, rows as Python values (apart those that have none), and a row as the
canonical v1 event it was stored from."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

import pyarrow as pa
from pydantic import ValidationError

from pipeline import parquet
from pipeline.curated import schema
from pipeline.curated.compactor import DEDUP_WINDOW
from pipeline.curated.fields import ENVELOPE_FIELDS, PAYLOAD_FIELDS
from pipeline.store.base import Store
from translator.canonical import EVENT_MODELS, format_timestamp

ORDER = [("received_at", "ascending"), ("event_id", "ascending")]
NEIGHBOUR_DAYS = -(-DEDUP_WINDOW // timedelta(days=1))  # days another copy of an event may sit away


def read_curated(store: Store, key: str, columns: list[str] | None = None) -> pa.Table | None:
    try:
        data = store.get(key)
    except KeyError:
        return None
    table = parquet.from_bytes(data)
    return schema.conform(table) if columns is None else schema.conform(table).select(columns)


def first_per_event(table: pa.Table) -> pa.Table:
    """The rows in order, without later rows of an event already listed."""
    taken: set[str] = set()
    kept = []
    for index, event_id in enumerate(table.column("event_id").to_pylist()):
        if event_id not in taken:
            taken.add(event_id)
            kept.append(index)
    return table.take(kept)


def python_rows(table: pa.Table) -> tuple[list[dict[str, Any]], pa.Table]:
    """The rows as Python values, and apart those that have none: a timestamp outside years 1-9999,
    as the compactor could store before it held event times to a window. Such a row must not keep the
    others from going, so when the whole table does not convert, each row is tried on its own."""
    try:
        return table.to_pylist(), table.slice(0, 0)
    except (OverflowError, ValueError):
        pass
    rows, unconvertible = [], []
    for index in range(table.num_rows):
        try:
            rows.append(table.slice(index, 1).to_pylist()[0])
        except (OverflowError, ValueError):
            unconvertible.append(index)
    return rows, table.take(unconvertible)


_PAYLOAD_COLUMNS: dict[str, list[str]] = {}
for _field in PAYLOAD_FIELDS:
    _PAYLOAD_COLUMNS.setdefault(_field.event_type or "", []).append(_field.path[1])


def canonical_event(row: Mapping[str, Any]) -> dict[str, Any]:
    """A curated row (pipeline/schema.py) as the canonical v1 event it was stored from."""
    data: dict[str, Any] = {}
    for event_field in ENVELOPE_FIELDS:
        value = row.get(schema.column_name(event_field))
        if len(event_field.path) == 1:
            data[event_field.path[0]] = value
        else:
            data.setdefault(event_field.path[0], {})[event_field.path[1]] = value
    for name, value in list(data.items()):
        if isinstance(value, dict) and all(item is None for item in value.values()):
            data[name] = None  # the object was absent (a default such as is_bot is set only within it)
    event_type = row["event_type"]
    data["event_type"] = event_type
    data["payload"] = {name: row.get(name) for name in _PAYLOAD_COLUMNS.get(event_type, [])}
    try:
        return EVENT_MODELS[event_type].model_validate(data).model_dump(mode="json")
    except (KeyError, ValidationError):  # a row from an older schema: send it as it is rather than not
        text = json.dumps(data, default=lambda value: format_timestamp(value)
                          if isinstance(value, datetime) else str(value))
        return cast(dict[str, Any], json.loads(text))  # the JSON of a dict
