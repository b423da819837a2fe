"""The query parameters of the reports API: one table that both parses them and documents them.

Unknown or repeated parameters are refused rather than ignored, so a typo (`date_from=`) is a 400
and not silently the default range. The values are checked by `pipeline.reporting.selection`, whose
refusals `refusal()` turns into the API's 400s (the exports API and the dashboard use it too).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from gateway.errors import ApiError
from pipeline.query import sql
from pipeline.reporting import outcomes
from pipeline.reporting.selection import (
    MAX_ATTRIBUTION_DAYS,
    MAX_LIVE_MINUTES,
    MAX_RANGE_DAYS,
    Selection,
    SelectionError,
    parse_attribution_days,
    parse_minutes,
    parse_range,
    parse_slug,
)
from translator.ids import SLUG_PATTERN

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
ARCHIVED = Param("include_archived", "List archived projects too (default false: a project whose latest "
                 "state is archived is left out; its data is kept and counted in organization totals).",
                 {"type": "boolean", "default": False})

OUTCOME = Param("name", "The outcome's name, as posted (e.g. policy_renewed).", _SLUG, required=True)
AUDIENCE = Param("audience", "An audience posted to /analytics/v1/audiences/{name}: its members who never "
                 "viewed in the range are a cohort of their own.", _SLUG)
ATTRIBUTION = Param("attribution_days", "An outcome counts when it occurred within this many days after "
                    f"the person's first view in the range (default {outcomes.DEFAULT_ATTRIBUTION_DAYS}).",
                    {"type": "integer", "minimum": 1, "maximum": MAX_ATTRIBUTION_DAYS,
                     "default": outcomes.DEFAULT_ATTRIBUTION_DAYS})

RANGE_PARAMS = (ORGANIZATION, PROJECT, TEMPLATE, FROM, TO, BOTS)
BREAKDOWN_PARAMS = (*RANGE_PARAMS, DIMENSION)
LIVE_PARAMS = (ORGANIZATION, PROJECT, TEMPLATE, BOTS, MINUTES)
OUTCOME_PARAMS = (*RANGE_PARAMS, OUTCOME, AUDIENCE, ATTRIBUTION)
PROJECTS_PARAMS = (ORGANIZATION, TEMPLATE, FROM, TO, BOTS, ARCHIVED)
# Each report (pipeline/reporting/reports.py) and the parameters it takes: the API's routes and
# `percus report …`.
REPORTS: dict[str, Sequence[Param]] = {
    "summary": RANGE_PARAMS, "dropoff": RANGE_PARAMS, "ctas": RANGE_PARAMS, "chapters": RANGE_PARAMS,
    "breakdown": BREAKDOWN_PARAMS, "errors": RANGE_PARAMS, "engagement": RANGE_PARAMS, "live": LIVE_PARAMS,
    "outcomes": OUTCOME_PARAMS, "projects": PROJECTS_PARAMS,
}


def parse(query: QueryParams, accepted: Sequence[Param]) -> tuple[str | None, Selection, dict[str, Any]]:
    """The organization named (None: the key's own), the selection, and the report's own keyword
    arguments (dimension, minutes; name, audience, attribution_days; include_archived)."""
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
    with refusal():
        ids = {name: parse_slug(query[name], name)
               for name in ("organization_id", "project_id", "template_id") if name in query}
        date_from, date_to = parse_range(query.get("from"), query.get("to"))
        include_bots = boolean(query["include_bots"], "include_bots") if "include_bots" in query else False
        options: dict[str, Any] = {}
        if ARCHIVED in accepted:
            options["include_archived"] = (boolean(query["include_archived"], "include_archived")
                                           if "include_archived" in query else False)
        if "dimension" in query:
            if query["dimension"] not in DIMENSIONS:
                raise ApiError(400, "invalid_dimension", f"dimension must be one of {', '.join(DIMENSIONS)}",
                               "dimension")
            options["dimension"] = query["dimension"]
        if MINUTES in accepted:
            options["minutes"] = parse_minutes(query.get("minutes", "60"))
        options |= {param.name: parse_slug(query[param.name], param.name)
                    for param in (OUTCOME, AUDIENCE) if param.name in query}
        if ATTRIBUTION in accepted:
            options["attribution_days"] = parse_attribution_days(
                query.get("attribution_days", str(outcomes.DEFAULT_ATTRIBUTION_DAYS)))
    organization_id = ids.pop("organization_id", None)
    return organization_id, Selection(date_from=date_from, date_to=date_to, include_bots=include_bots,
                                      **ids), options


@contextmanager
def refusal() -> Iterator[None]:
    """A value `pipeline.reporting.selection` refuses is a 400 with its code, naming the parameter."""
    try:
        yield
    except SelectionError as error:
        raise ApiError(400, error.code, str(error), error.field) from None


def boolean(text: str, name: str) -> bool:
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0"):
        return False
    raise ApiError(400, "invalid_parameter", f"{name} must be true or false", name)
