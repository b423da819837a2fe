"""GET /analytics/v1/reports/{summary,dropoff,ctas,chapters,breakdown,errors,engagement,live,outcomes,
projects}: the reports of `pipeline.reporting.reports` (and `pipeline.reporting.outcomes`) as JSON, for one
organization, with a name beside each project and template id (`pipeline.reporting.names`).

An organization API key reads its own organization; an admin key names one with `organization_id`.
The key check and the query run in a worker thread: both read the store (or wait on Athena).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import api_keys, report_params
from gateway._request import bearer
from gateway.errors import error_doc
from gateway.report_params import REPORTS, Param
from gateway.services import Services
from pipeline.query import QueryEngine
from pipeline.reporting import metrics, outcomes, reports
from pipeline.reporting.names import Names
from pipeline.reporting.selection import Selection

PREFIX = "/analytics/v1/reports"


def run_report(name: str, engine: QueryEngine, org: str, selection: Selection,
               options: dict[str, Any]) -> dict[str, Any]:
    """One report's result (blocking), `options` its own keyword arguments (dimension, minutes);
    `percus report …` runs it too."""
    report: Callable[..., dict[str, Any]] = (outcomes.outcomes if name == "outcomes"
                                             else getattr(reports, name))
    return report(engine, org, selection=selection, **options)


def routes(services: Services) -> list[BaseRoute]:
    registry = services.registry

    def endpoint(name: str, accepted: Sequence[Param]) -> Callable[[Request], Any]:
        def answer(key: str | None, request: Request) -> dict[str, Any]:
            principal = api_keys.authenticate(registry, key)
            named, selection, options = report_params.parse(request.query_params, accepted)
            org = api_keys.organization(registry, principal, named)
            names = Names.read(registry.store, org)
            return {"organization_id": org, "report": name, "filters": names.label(_echo(selection, options)),
                    "result": run_report(name, services.engine, org, selection, options)}

        async def get(request: Request) -> Response:
            body = await run_in_threadpool(answer, bearer(request.headers.get("authorization")), request)
            return JSONResponse(body, headers={"Cache-Control": "private, no-store"})

        return get

    return [Route(f"{PREFIX}/{name}", endpoint(name, accepted), methods=["GET"])
            for name, accepted in REPORTS.items()]


def _echo(selection: Selection, options: dict[str, Any]) -> dict[str, Any]:
    """The filters as understood (null: the default)."""
    echoed: dict[str, Any] = {"project_id": selection.project_id, "template_id": selection.template_id,
                              "include_bots": selection.include_bots}
    if "minutes" in options:
        echoed["minutes"] = options["minutes"]
    else:
        echoed["from"] = selection.date_from and selection.date_from.isoformat()
        echoed["to"] = selection.date_to and selection.date_to.isoformat()
    for name in ("dimension", "name", "audience", "attribution_days", "include_archived"):
        if name in options:
            echoed[name] = options[name]
    return echoed


# -- OpenAPI ---------------------------------------------------------------------------------------

_NUMBER = {"type": ["number", "null"]}
_COUNT = {"type": "integer"}
_NAME = {"type": ["string", "null"], "description": "From the platform's integration events "
         "(docs/platform-events.md); null when none named it."}
_RATE = {"type": ["number", "null"], "description": "A fraction in [0, 1]; null without a denominator."}
_METRICS = {"type": "object", "description": "The summary metrics (docs/metrics.md).",
            "properties": {metric.name: _RATE if metric.unit == "fraction" else _NUMBER
                           for metric in metrics.SUMMARY}}


def _rows(**properties: Any) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "object", "properties": properties}}


_RESULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "summary": ("Summary metrics: views, plays, completion rate, CTA click-through, errors…", _METRICS),
    "dropoff": ("Plays reaching 25, 50, 75 and 100 % of the video", {"type": "object", "properties": {
        "plays": _COUNT, "milestones": _rows(percent=_COUNT, sessions=_COUNT, fraction=_RATE)}}),
    "ctas": ("CTA funnel: views → plays → views with a click, overall and per CTA", {
        "type": "object", "properties": {
            "views": _COUNT, "plays": _COUNT, "cta_sessions": _COUNT, "cta_clicks": _COUNT, "cta_ctr": _RATE,
            "ctas": _rows(cta_id={"type": "string"}, cta_name={"type": ["string", "null"]}, clicks=_COUNT,
                          sessions=_COUNT, cta_ctr=_RATE)}}),
    "chapters": ("Chapter reach: plays that entered each chapter", {"type": "object", "properties": {
        "plays": _COUNT, "chapters": _rows(chapter_id={"type": "string"},
                                           chapter_name={"type": ["string", "null"]}, entries=_COUNT,
                                           sessions=_COUNT, chapter_reach=_RATE)}}),
    "breakdown": ("Session metrics per device type, OS, browser, locale or country", {
        "type": "object", "properties": {
            "dimension": {"type": "string"}, "views": _COUNT,
            "rows": {"type": "array", "items": {"allOf": [_METRICS, {"type": "object", "properties": {
                "value": {"type": ["string", "null"], "description": "null: unknown"},
                "share": _RATE}}]}}}}),
    "errors": ("Top error codes", {"type": "object", "properties": {
        "errors": _COUNT, "codes": _rows(error_code={"type": ["string", "null"]}, errors=_COUNT,
                                         sessions=_COUNT, share=_RATE)}}),
    "engagement": ("The engagement curve: per 1 % of the video, the plays that watched it and watched it "
                   "again", {"type": "object", "properties": {
                       "plays": _COUNT, "plays_with_data": _COUNT, "plays_without_data": _COUNT,
                       "avg_watched_percent": _NUMBER, "avg_max_percent": _NUMBER,
                       "buckets": _rows(bucket={"type": "integer", "minimum": 0, "maximum": 99,
                                                "description": "bucket % to bucket + 1 % of the duration"},
                                        watched=_COUNT, watched_again=_COUNT, watched_share=_RATE,
                                        watched_again_share=_RATE)}}),
    "live": ("Sessions started in the last 60 minutes: their metrics and error spikes (read from the "
             "curated events, so as fresh as the last compaction)", {"allOf": [_METRICS, {
                 "type": "object", "properties": {
                     "since": {"type": "string", "format": "date-time"},
                     "until": {"type": "string", "format": "date-time"},
                     "errors_per_bucket": _rows(start={
                         "type": "string", "format": "date-time",
                         "description": "On the clock's 5 minutes (:00, :05 …); the first and last may be "
                                        "partial"}, errors=_COUNT),
                     "error_spike": {"type": "boolean", "description": "The last 5 minutes have at least 5 "
                                     "errors and 3× the mean of the window's earlier 5-minute spans."}}}]}),
    "outcomes": ("Business outcomes per engagement cohort and per CTA: people, conversions within the "
                 "attribution window, value per currency, median days to convert", {
                     "type": "object", "properties": {
                         "name": {"type": "string"}, "audience": {"type": ["string", "null"]},
                         "attribution_days": _COUNT, "from": {"type": "string", "format": "date"},
                         "to": {"type": "string", "format": "date"}, "people": _COUNT, "converted": _COUNT,
                         "conversion_rate": _RATE,
                         "cohorts": _rows(cohort={"enum": list(outcomes.COHORTS)}, people=_COUNT,
                                          converted=_COUNT, conversion_rate=_RATE,
                                          value={"type": "object", "description": "Currency -> the values "
                                                 "summed, as exact decimal text",
                                                 "additionalProperties": {"type": "string"}},
                                          median_days_to_convert=_NUMBER),
                         "ctas": _rows(cta_id={"type": "string"}, cta_name={"type": ["string", "null"]},
                                       people=_COUNT, converted=_COUNT, conversion_rate=_RATE)}}),
    "projects": ("The projects with sessions in the range, most viewed first, with their names and session "
                 "metrics; archived projects only with include_archived=true", {
                     "type": "object", "properties": {
                         "projects": {"type": "array", "items": {"allOf": [_METRICS, {
                             "type": "object", "properties": {
                                 "project_id": {"type": "string"}, "project_name": _NAME,
                                 "archived": {"type": "boolean", "description": "Its latest state is "
                                              "archived (listed only with include_archived=true)."}}}]}},
                         "archived_hidden": {**_COUNT, "description": "Archived projects with sessions "
                                             "in the range left out."}}}),
}


def _path(name: str, accepted: Sequence[Param]) -> dict[str, Any]:
    summary, result = _RESULTS[name]
    return {"get": {
        "operationId": f"get_{name}_report",
        "summary": summary,
        "description": "Bots are excluded unless include_bots=true. Dates are UTC days. See docs/api.md "
                       "(Reports) and docs/metrics.md.",
        "security": [{"apiKey": []}],
        "parameters": [param.openapi() for param in accepted],
        "responses": {
            "200": {"description": "The report", "content": {"application/json": {"schema": {
                "type": "object", "required": ["organization_id", "report", "filters", "result"],
                "properties": {"organization_id": {"type": "string"}, "report": {"const": name},
                               "filters": {"type": "object", "description": "The filters as understood; "
                                           "null means the default. project_name and template_name "
                                           "name the project_id and template_id given.",
                                           "properties": {"project_id": {"type": ["string", "null"]},
                                                          "project_name": _NAME,
                                                          "template_id": {"type": ["string", "null"]},
                                                          "template_name": _NAME}},
                               "result": result}}}}},
            "400": error_doc("A bad parameter: invalid_date, invalid_range, range_too_long, "
                             "invalid_dimension, invalid_parameter, missing_parameter, unknown_parameter, "
                             "repeated_parameter, organization_required (admin key without "
                             "organization_id); `field` names it."),
            "401": error_doc("No API key (api_key_missing), or an unknown, malformed or revoked one "
                             "(api_key_invalid)."),
            "403": error_doc("An organization key naming another organization (organization_forbidden)."),
            "404": error_doc("An admin key naming an organization that does not exist "
                             "(unknown_organization)."),
        },
    }}


TAG = "reports"
PATHS: dict[str, Any] = {f"{PREFIX}/{name}": _path(name, accepted) for name, accepted in REPORTS.items()}
