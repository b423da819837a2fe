"""The curated zone's table: one flat, typed row per unique event, the one definition of its columns,
derived from the canonical models (`pipeline/curated/fields.py`); and the flattening of checked raw
events into it. The columns and their files: docs/architecture.md (Curated rows).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.curated.fields import ENVELOPE_FIELDS, PAYLOAD_FIELDS, EventField
from translator.canonical import NAME_FIELDS, NAME_MAX_CHARS

TIMESTAMP = pa.timestamp("ms", tz="UTC")
_ARROW_TYPES: dict[type, pa.DataType] = {
    str: pa.string(), UUID: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_(),
    datetime: TIMESTAMP,
}
# Timestamps are read as text and cast, because pyarrow.json would take a time without an offset
# as UTC where the models refuse it; the cast refuses it too.
_WIRE_TYPES = {**_ARROW_TYPES, datetime: pa.string()}


def column_name(field: EventField) -> str:
    """`device.type` -> `device_type`; payload fields keep their own name (`payload.cta_id` -> `cta_id`)."""
    return "_".join(field.path[1:] if field.path[0] == "payload" else field.path)


def _payload_columns() -> dict[str, tuple[pa.DataType, frozenset[str]]]:
    """Each payload column's type and the event types that carry it (first seen, first listed)."""
    columns: dict[str, tuple[pa.DataType, frozenset[str]]] = {}
    for field in PAYLOAD_FIELDS:
        name, arrow_type = column_name(field), _ARROW_TYPES[field.kind]
        known_type, event_types = columns.get(name, (arrow_type, frozenset()))
        assert field.event_type is not None, name  # a payload field belongs to its event type
        if known_type != arrow_type:
            raise TypeError(f"payload field {name} is {known_type} in one event type and {arrow_type} "
                            "in another")
        columns[name] = (arrow_type, event_types | {field.event_type})
    return columns


PAYLOAD_COLUMNS = _payload_columns()
SCHEMA = pa.schema(
    [pa.field(column_name(field), _ARROW_TYPES[field.kind]) for field in ENVELOPE_FIELDS]
    + [pa.field("event_type", pa.string()), pa.field("event_time", TIMESTAMP)]
    + [pa.field(name, arrow_type) for name, (arrow_type, _) in PAYLOAD_COLUMNS.items()]
)
if len(set(SCHEMA.names)) != len(SCHEMA.names):
    raise TypeError("a payload field name collides with an envelope column")


def _raw_schema() -> pa.Schema:
    """The nested shape of a stored JSON line, for pyarrow.json's explicit schema."""
    top: dict[str, pa.DataType | dict[str, pa.DataType]] = {}
    for field in ENVELOPE_FIELDS:
        if len(field.path) == 1:
            top[field.path[0]] = _WIRE_TYPES[field.kind]
        else:
            top.setdefault(field.path[0], {})[field.path[1]] = _WIRE_TYPES[field.kind]
    top["event_type"] = pa.string()
    top["payload"] = {field.path[1]: _WIRE_TYPES[field.kind] for field in PAYLOAD_FIELDS}
    return pa.schema([
        pa.field(name, pa.struct(list(value.items())) if isinstance(value, dict) else value)
        for name, value in top.items()
    ])


RAW_SCHEMA = _raw_schema()


def raw_column(raw: pa.Table, path: tuple[str, ...]) -> pa.ChunkedArray:
    """A (possibly nested) value of the raw table; null where the value or a parent is null."""
    column = raw.column(path[0])
    for name in path[1:]:
        column = pc.struct_field(column, name)
    return column


def _with_default(raw: pa.Table, field: EventField, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Apply a model default (e.g. device.is_bot=False) where the parent object is present."""
    if field.default is None:
        return column
    filled = pc.fill_null(column, field.default)
    if len(field.path) == 1:
        return filled
    return pc.if_else(pc.is_valid(raw_column(raw, field.path[:-1])), filled, column)


def from_raw(raw: pa.Table) -> pa.Table:
    """Flatten checked raw events (RAW_SCHEMA) to curated rows, normalised as the models would.

    Raises pyarrow.ArrowInvalid when a timestamp is not ISO-8601 with an offset.
    """
    columns: dict[str, pa.ChunkedArray] = {}
    for field in ENVELOPE_FIELDS:
        column = raw_column(raw, field.path).cast(_ARROW_TYPES[field.kind])
        columns[column_name(field)] = _with_default(raw, field, column)
    event_type = raw.column("event_type")
    columns["event_type"] = event_type
    skew = pc.subtract(columns["received_at"], columns["sent_at"])
    corrected = pc.coalesce(pc.add(columns["occurred_at"], skew), columns["occurred_at"])
    # Nothing happened after the server received it; unclamped, a fast clock dates a view in the future.
    received = columns["received_at"]
    columns["event_time"] = pc.if_else(pc.greater(corrected, received), received, corrected)
    for name, (arrow_type, event_types) in PAYLOAD_COLUMNS.items():
        value = raw_column(raw, ("payload", name)).cast(arrow_type)
        if name in NAME_FIELDS:
            value = pc.utf8_slice_codeunits(value, 0, NAME_MAX_CHARS)
        # The models ignore fields an event type does not define; so does the curated row.
        carried = pc.is_in(event_type, value_set=pa.array(sorted(event_types)))
        columns[name] = pc.if_else(carried, value, pa.scalar(None, arrow_type))
    return pa.table([columns[name] for name in SCHEMA.names], schema=SCHEMA)


def conform(table: pa.Table) -> pa.Table:
    """A curated table written under an older schema, with today's columns (new ones null)."""
    columns = [
        table.column(field.name).cast(field.type) if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in SCHEMA
    ]
    return pa.table(columns, schema=SCHEMA)
