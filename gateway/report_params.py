"""The query parameters of the reports API: one table that both parses them and documents them.

Unknown or repeated parameters are refused rather than ignored, so a typo (`date_from=`) is a 400
and not silently the default range.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.datastructures import QueryParams

from gateway.errors import ApiError
from pipeline.query import sql
from translator.ids import SLUG_PATTERN, check_slug

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EARLIEST = date(2000, 1, 1)
MAX_RANGE_DAYS = 3 * 366  # a report reads every day of its range: bound the work one request asks for
MAX_LIVE_MINUTES = 24 * 60
DIMENSIONS = tuple(sorted(sql.DIMENSIONS))


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    schema: dict[str, Any]
    required: bool = False

    def openapi(self) -> dict[str, Any]:
        return {"name": self.name, "in": "query", "required": self.required, "description": self.description,
                "schema": self.schema}


_SLUG = {"type": "string", "pattern": SLUG_PATTERN}
ORGANIZATION = Param("organization_id", "Organization to read. An organization key may omit it (it reads "
                     "its own; naming another is 403); an admin key must give it.", _SLUG)
PROJECT = Param("project_id", "Only this project.", _SLUG)
TEMPLATE = Param("template_id", "Only this template.", _SLUG)
FROM = Param("from", "First day, YYYY-MM-DD (UTC), inclusive; default: the organization's first data.",
             {"type": "string", "format": "date"})
TO = Param("to", "Last day, YYYY-MM-DD (UTC), inclusive; default: today. Not before `from`; a range "
           f"spans at most {MAX_RANGE_DAYS} days.", {"type": "string", "format": "date"})
BOTS = Param("include_bots", "Count sessions of known bots too (default false).",
             {"type": "boolean", "default": False})
DIMENSION = Param("dimension", "What to break the sessions down by.",
                  {"type": "string", "enum": list(DIMENSIONS)}, required=True)
MINUTES = Param("minutes", "Window: sessions started in the last N minutes (default 60).",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIVE_MINUTES, "default": 60})

RANGE_PARAMS = (ORGANIZATION, PROJECT, TEMPLATE, FROM, TO, BOTS)
BREAKDOWN_PARAMS = (*RANGE_PARAMS, DIMENSION)
LIVE_PARAMS = (ORGANIZATION, PROJECT, TEMPLATE, BOTS, MINUTES)
# Each report (pipeline/reporting/reports.py) and the parameters it takes: the API's routes and
# `percus report …`.
REPORTS: dict[str, Sequence[Param]] = {
    "summary": RANGE_PARAMS, "dropoff": RANGE_PARAMS, "ctas": RANGE_PARAMS, "chapters": RANGE_PARAMS,
    "breakdown": BREAKDOWN_PARAMS, "errors": RANGE_PARAMS, "live": LIVE_PARAMS,
}


@dataclass(frozen=True)
class ReportParams:
    organization_id: str | None = None
    project_id: str | None = None
    template_id: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    include_bots: bool = False
    dimension: str | None = None
    minutes: int | None = None

    def filters(self) -> dict[str, Any]:
        """Keyword arguments of the `pipeline.reporting.reports` functions."""
        found: dict[str, Any] = {"project_id": self.project_id, "template_id": self.template_id,
                                 "include_bots": self.include_bots}
        if self.minutes is not None:
            found["minutes"] = self.minutes
        else:
            found.update(date_from=self.date_from, date_to=self.date_to)
        return found


def parse(query: QueryParams, accepted: Sequence[Param]) -> ReportParams:
    names = {param.name for param in accepted}
    seen: set[str] = set()
    for name, _ in query.multi_items():
        if name not in names:
            raise ApiError(400, "unknown_parameter", f"unknown parameter {name!r}; this report takes "
                           f"{', '.join(sorted(names))}", name)
        if name in seen:
            raise ApiError(400, "repeated_parameter", f"parameter {name!r} is given twice", name)
        seen.add(name)
    for param in accepted:
        if param.required and param.name not in query:
            raise ApiError(400, "missing_parameter", f"parameter {param.name!r} is required", param.name)
    values: dict[str, Any] = {}
    for name in ("organization_id", "project_id", "template_id"):
        if name in query:
            values[name] = slug(query[name], name)
    if "from" in query:
        values["date_from"] = parse_date(query["from"], "from")
    if "to" in query:
        values["date_to"] = parse_date(query["to"], "to")
    check_range(values.get("date_from"), values.get("date_to"))
    if "include_bots" in query:
        values["include_bots"] = _boolean(query["include_bots"], "include_bots")
    if "dimension" in query:
        if query["dimension"] not in DIMENSIONS:
            raise ApiError(400, "invalid_dimension", f"dimension must be one of {', '.join(DIMENSIONS)}",
                           "dimension")
        values["dimension"] = query["dimension"]
    if MINUTES in accepted:
        values["minutes"] = parse_minutes(query.get("minutes", "60"))
    return ReportParams(**values)


def slug(value: str, name: str) -> str:
    try:
        return check_slug(value, name)
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", str(exc), name) from None


def parse_date(text: str, name: str) -> date:
    try:
        if not _DATE.match(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, "invalid_date", f"{name} must be a date as YYYY-MM-DD, not {text[:40]!r}",
                       name) from None


def check_range(date_from: date | None, date_to: date | None,
                names: tuple[str, str] = ("from", "to")) -> None:
    """Dates within reason, `from` ≤ `to`, and a bounded span (`to` defaults to today). `names`
    are what the messages call the two bounds (the command line says `--from`, `--to`)."""
    today = datetime.now(UTC).date()
    latest = today + timedelta(days=366)
    first, last = names
    for field, name, value in (("from", first, date_from), ("to", last, date_to)):
        if value is not None and not EARLIEST <= value <= latest:
            raise ApiError(400, "invalid_date", f"{name} must lie between {EARLIEST} and {latest}", field)
    if date_from is not None and date_to is not None and date_from > date_to:
        raise ApiError(400, "invalid_range", f"{first} ({date_from}) is after {last} ({date_to})", "from")
    if date_from is not None and ((date_to or today) - date_from).days + 1 > MAX_RANGE_DAYS:
        raise ApiError(400, "range_too_long", f"a range spans at most {MAX_RANGE_DAYS} days", "from")


def _boolean(text: str, name: str) -> bool:
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0"):
        return False
    raise ApiError(400, "invalid_parameter", f"{name} must be true or false", name)


def parse_minutes(text: str, name: str = "minutes") -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIVE_MINUTES:
        raise ApiError(400, "invalid_parameter", f"{name} must be a whole number from 1 to "
                       f"{MAX_LIVE_MINUTES}", "minutes")
    return int(text)
