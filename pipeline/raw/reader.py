"""Raw objects to checked Arrow tables, and the verdict on the corrupt ones.

The fast path parses a whole partition's NDJSON with pyarrow.json and checks it with vectorised
rules derived from the canonical models. Anything it does not accept goes, object by object, to the
authority: translator's pydantic models, line by line. An object is corrupt only if that authority
rejects something in it; its valid lines are still kept (never lose good data).
"""

from __future__ import annotations

import functools
import io
import json
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from uuid import UUID

import annotated_types as at
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from pydantic import (
    AfterValidator,
    BeforeValidator,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    WrapValidator,
)
from pydantic.types import StringConstraints

from pipeline.curated import schema
from pipeline.curated.fields import ENVELOPE_FIELDS, PAYLOAD_FIELDS, EventField
from pipeline.curated.schema import RAW_SCHEMA, raw_column
from pipeline.raw import rawfile
from translator.canonical import EARLIEST_TIME, EVENT_TYPES, MAX_AHEAD, NAME_FIELDS, TIMESTAMP_PATTERN
from translator.event_parser import EventError, check_event_time, parse_event

_PARSE = pj.ParseOptions(explicit_schema=RAW_SCHEMA, unexpected_field_behavior="ignore")
_UUID_TEXT = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"  # how the models write one
# Optional on input (the gateway sets them), required in a stored event.
_SET_BY_GATEWAY = frozenset({("received_at",), ("organization_id",)})


@dataclass(frozen=True)
class Corruption:
    """Why a raw object was quarantined. Never carries event content: codes, line numbers, field names."""

    reason: str  # bad_gzip, truncated_gzip, invalid_json, invalid_event, wrong_organization
    line: int | None  # 1-based line of the first problem
    field: str | None  # the event field at fault, when known
    salvaged: int  # valid events kept from the object
    rejected: int  # lines dropped

    def as_json(self) -> dict[str, str | int | None]:
        return {"reason": self.reason, "line_number": self.line, "field": self.field,
                "salvaged_events": self.salvaged, "rejected_lines": self.rejected}


@dataclass(frozen=True)
class RawRead:
    # Curated rows of every valid event: objects the fast path took, then the others; line order within.
    table: pa.Table
    corrupt: dict[str, Corruption]  # raw key -> verdict


_BOUNDS = {at.Ge: ("greater_equal", "ge"), at.Gt: ("greater", "gt"), at.Le: ("less_equal", "le"),
           at.Lt: ("less", "lt")}


def _constraint_checks(field: EventField) -> list[tuple[str, object]]:
    checks: list[tuple[str, object]] = []
    if field.kind is UUID:
        checks.append(("pattern", _UUID_TEXT))
    if field.kind is datetime:  # read as text; the cast alone would take a time without milliseconds
        checks.append(("pattern", TIMESTAMP_PATTERN))
    if field.literals is not None:
        checks.append(("in", field.literals))
    for item in field.constraints:
        if type(item) in _BOUNDS:
            op, attribute = _BOUNDS[type(item)]
            checks.append((op, getattr(item, attribute)))
        elif isinstance(item, StringConstraints):
            if item.min_length is not None:
                checks.append(("min_length", item.min_length))
            if item.max_length is not None:
                checks.append(("max_length", item.max_length))
            if item.pattern is not None:
                checks.append(("pattern", str(item.pattern)))
        elif isinstance(item, at.MinLen):
            checks.append(("min_length", item.min_length))
        elif isinstance(item, at.MaxLen):
            checks.append(("max_length", item.max_length))
    return checks


_Values = TypeVar("_Values", pc.Expression, pa.ChunkedArray)


def _fails(value: _Values, check: str, arg: object) -> _Values:
    """True where a present value breaks the check (null where the value is null): an expression over
    rows, or the values themselves checked."""
    if check == "pattern":
        passes = pc.match_substring_regex(value, pattern=arg)
    elif check == "in":
        passes = pc.is_in(value, value_set=pa.array(arg))
    elif check == "min_length":
        passes = pc.greater_equal(pc.utf8_length(value), arg)
    elif check == "max_length":
        passes = pc.less_equal(pc.utf8_length(value), arg)
    else:
        passes = getattr(pc, check)(value, arg)
    return pc.invert(passes)


# The checks of payload values, run on the present values only (_all_valid): most payload fields are
# absent from most rows, which the row expression would check all the same.
_PAYLOAD_CHECKS = [(field.path, field.event_type, checks) for field in PAYLOAD_FIELDS
                   if (checks := _constraint_checks(field))]


def _rules() -> pc.Expression:
    """One expression, true for a row the models would refuse (but for the payload values' own checks,
    _PAYLOAD_CHECKS): evaluated in one pass, in C++.

    Nulls are not "true", so a check on an absent optional value never flags the row.
    """
    event_type = pc.field("event_type")
    bad = [~event_type.isin(EVENT_TYPES)]
    for field in ENVELOPE_FIELDS:
        value = pc.field(*field.path)
        if field.required or field.path in _SET_BY_GATEWAY:
            missing = value.is_null()
            if len(field.path) > 1:  # required only inside a present parent object
                missing = missing & pc.field(*field.path[:-1]).is_valid()
            bad.append(missing)
        bad.extend(_fails(value, check, arg) for check, arg in _constraint_checks(field))
    bad.extend((event_type == field.event_type) & pc.field(*field.path).is_null()
               for field in PAYLOAD_FIELDS if field.required)
    return functools.reduce(operator.or_, bad)


_RULES = _rules()


def _normalised_by_model(field: EventField) -> bool:
    """Text the model rewrites with its own validator (locale); names are truncated in from_raw."""
    validators = (AfterValidator, BeforeValidator, PlainValidator, WrapValidator)
    return (field.kind is str and field.path[-1] not in NAME_FIELDS
            and any(isinstance(item, validators) for item in field.constraints))


# Few distinct values (a locale per viewer language): each is checked once against the model.
_NORMALISED = {field.path: TypeAdapter(field.annotation)
               for field in (*ENVELOPE_FIELDS, *PAYLOAD_FIELDS) if _normalised_by_model(field)}


def _as_model_writes(column: pa.ChunkedArray, adapter: TypeAdapter[object]) -> bool:
    for value in pc.unique(column.drop_null()).to_pylist():
        try:
            if adapter.validate_python(value) != value:
                return False
        except ValidationError:
            return False
    return True


def _all_valid(table: pa.Table, org: str) -> bool:
    """Whether the fast path accepts every row as a stored canonical event of `org`."""
    if table.filter(_RULES | (pc.field("organization_id") != org)).num_rows:
        return False
    event_type = table.column("event_type")
    for path, of_type, checks in _PAYLOAD_CHECKS:
        value = raw_column(table, path)
        if value.null_count == len(value):
            continue
        present = pc.is_valid(value)
        values, carried = value.filter(present), pc.equal(event_type.filter(present), of_type)
        if any(pc.any(pc.and_kleene(carried, _fails(values, check, arg))).as_py() for check, arg in checks):
            return False
    return all(_as_model_writes(raw_column(table, path), adapter) for path, adapter in _NORMALISED.items())


def _parse(text: bytes) -> pa.Table | None:
    try:
        return pj.read_json(io.BytesIO(text), parse_options=_PARSE)
    except pa.ArrowInvalid:
        return None


def _fast(text: bytes, org: str) -> pa.Table | None:
    """Curated rows of NDJSON text, or None when any line needs the authority's look."""
    table = _parse(text) if text else RAW_SCHEMA.empty_table()
    # pyarrow tolerates two objects on one line and skips blank lines: a line count catches both.
    if table is None or table.num_rows != text.count(b"\n"):
        return None
    if table.num_rows and not _all_valid(table, org):
        return None
    try:
        rows = schema.from_raw(table)
    except pa.ArrowInvalid:  # a timestamp pyarrow cannot read
        return None
    return rows if _times_in_window(rows) else None


def _times_in_window(rows: pa.Table) -> bool:
    """The gateway's window of event times (translator.event_parser.check_event_time), held again for
    raw objects written before it held: an impossible time must not reach curated."""
    earliest = pa.scalar(EARLIEST_TIME, schema.TIMESTAMP)
    since = pc.coalesce(rows.column("sent_at"), rows.column("received_at"))
    ahead = pc.subtract(rows.column("occurred_at"), since)
    bad = [pc.greater(ahead, pa.scalar(MAX_AHEAD, pa.duration("ms")))]
    bad += [pc.less(rows.column(name), earliest)
            for name in ("occurred_at", "sent_at", "consent_granted_at", "event_time")]
    return not pc.any(functools.reduce(pc.or_kleene, bad)).as_py()


def _by_authority(data: bytes, org: str) -> tuple[pa.Table, Corruption | None]:
    """Validate an object line by line with the pydantic models; keep what they accept."""
    text, gzip_problem = rawfile.inflate(data)
    lines = text.split(b"\n")
    cut = lines.pop() if gzip_problem else b""  # a truncated stream ends inside a line: drop that part
    first: tuple[str, int | None, str | None] | None = None
    rejected = 1 if cut.strip() else 0
    good: list[bytes] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        problem: tuple[str, str | None] | None = None
        try:
            event = parse_event(json.loads(line))
        except ValueError:
            problem = ("invalid_json", None)
        except EventError as error:
            problem = ("invalid_event", error.field)
        else:
            if event.organization_id != org:
                problem = ("wrong_organization", "organization_id")
            elif event.received_at is None:
                problem = ("invalid_event", "received_at")
            else:
                try:
                    check_event_time(event, event.received_at)
                except EventError as error:
                    problem = ("invalid_event", error.field)
                else:
                    good.append(event.model_dump_json().encode())
        if problem:
            rejected += 1
            first = first or (problem[0], number, problem[1])
    if gzip_problem:
        first = first or (gzip_problem, len(lines) + 1 if cut.strip() else None, None)
    table = _parse(b"\n".join(good) + b"\n") if good else RAW_SCHEMA.empty_table()
    if table is None:  # the models accepted what pyarrow cannot read: a bug to see, not data to drop
        raise RuntimeError("pyarrow could not read events the canonical models wrote")
    table = schema.from_raw(table)
    if first is None:
        return table, None
    return table, Corruption(first[0], first[1], first[2], table.num_rows, rejected)


def read_raw(objects: Sequence[tuple[str, bytes]], org: str) -> RawRead:
    """Every valid event of one organization's raw objects; corrupt objects named with a verdict."""
    texts: list[tuple[str, bytes, bytes]] = []
    doubtful: list[tuple[str, bytes]] = []
    for key, data in objects:
        text, problem = rawfile.inflate(data)  # ISA-L: about a quarter of zlib's CPU
        if problem is not None:
            doubtful.append((key, data))
            continue
        texts.append((key, data, text if not text or text.endswith(b"\n") else text + b"\n"))
    tables: list[pa.Table] = []
    whole = _fast(b"".join(text for _, _, text in texts), org)
    if whole is not None:
        tables.append(whole)
    else:  # find the objects at fault; the others still take the fast path
        for key, data, text in texts:
            table = _fast(text, org)
            if table is None:
                doubtful.append((key, data))
            else:
                tables.append(table)
    corrupt: dict[str, Corruption] = {}
    for key, data in doubtful:
        table, verdict = _by_authority(data, org)
        tables.append(table)
        if verdict is not None:
            corrupt[key] = verdict
    return RawRead(pa.concat_tables(tables) if tables else schema.SCHEMA.empty_table(), corrupt)
