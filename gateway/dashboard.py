"""GET /dashboard: the built-in dashboard, rendered on the server with jinja2, charts as inline SVG.

Pages: sign-in (an organization or admin key → a signed session cookie), live campaigns of an
organization (refreshed every 60 s), a project's drill-down, and the cross-organization overview
(admin key only). An organization's key opens that organization's pages only (403 otherwise). The
pages hold no script and load nothing from elsewhere, so they work offline; the numbers are those
of the reports API (`pipeline.reporting.reports`), computed in a worker thread.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import api_keys, exports_api, report_params
from gateway.api_keys import Principal
from gateway.dashboard_session import COOKIE, Sessions
from gateway.errors import ApiError
from gateway.services import Services
from pipeline.reporting import exports, projects, reports
from pipeline.reporting.charts import Item, bars, columns

HOME = "/dashboard"
SIGN_IN = "/dashboard/sign-in"
SIGN_OUT = "/dashboard/sign-out"
OVERVIEW = "/dashboard/overview"
ORGANIZATION = "/dashboard/orgs/{org}"
PROJECT = "/dashboard/orgs/{org}/projects/{project}"
EXPORT = "/dashboard/orgs/{org}/projects/{project}/export"
REFRESH_SECONDS = 60
RANGE_DAYS = 30  # the default range of the project and overview pages, today included
TOP_ROWS = 8  # rows per breakdown chart; the rest are counted below it
MAX_PROJECTS = 50  # projects listed on the live page (each is one summary query)
DEVICE_DIMENSIONS = (("device_type", "Devices"), ("locale", "Locales"), ("country", "Countries"))
# Health thresholds of the overview (docs/dashboard.md).
LOW_PLAY_RATE = 0.30
LOW_COMPLETION_RATE = 0.25
HIGH_FAILURE_RATE = 0.05

_HEADERS = {
    # No script at all; styles are inline; forms post here only; no framing (clickjacking).
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make Chromium send `Origin: null` on our forms
    "Cache-Control": "private, no-store",
}


@functools.cache
def templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters.update(count=count, percent=percent, share=share)
    return environment


def count(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def percent(value: float | None) -> str:
    """A value already in percent (avg_max_percent)."""
    return "–" if value is None else f"{value:.1f} %"


def share(value: float | None) -> str:
    """A fraction shown in percent (rates and shares)."""
    return "–" if value is None else f"{value * 100:.1f} %"


def _with_share(value: int, fraction: float | None) -> str:
    return f"{count(value)} · {share(fraction)}"


def render(name: str, **context: Any) -> str:
    return templates().get_template(name).render({"refresh": None, **context})


@dataclass(frozen=True)
class Health:
    status: str  # healthy, low, errors, idle (the badge's CSS class)
    label: str


def health(summary: Mapping[str, Any], live: Mapping[str, Any]) -> Health:
    """How an organization's last 30 days look, for the overview (thresholds: docs/dashboard.md)."""
    if not summary["views"]:
        return Health("idle", "no views")
    if live["error_spike"] or (summary["playback_failure_rate"] or 0) >= HIGH_FAILURE_RATE:
        return Health("errors", "errors")
    if (summary["play_rate"] or 0) < LOW_PLAY_RATE or (summary["completion_rate"] or 0) < LOW_COMPLETION_RATE:
        return Health("low", "low engagement")
    return Health("healthy", "healthy")


class Pages:
    """The pages' contents (blocking: run from a worker thread)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def _readable(self, principal: Principal, org: str) -> None:
        if not principal.may_read(org):
            raise ApiError(403, "organization_forbidden", "this key opens its own organization's pages only")
        if principal.is_admin and not self._exists(org):
            raise ApiError(404, "unknown_organization", f"there is no organization {org!r}")

    def _exists(self, org: str) -> bool:
        try:
            return self.services.registry.get(org) is not None
        except ValueError:  # not even a well-formed organization id
            return False

    def live(self, principal: Principal, org: str) -> str:
        self._readable(principal, org)
        engine, now = self.services.engine, datetime.now(UTC)
        overall = reports.live(engine, org, now=now)
        campaigns = [(project, reports.live(engine, org, project_id=project, now=now))
                     for project in projects.live_project_ids(engine, org, now=now)]
        first, today = now.date() - timedelta(days=RANGE_DAYS - 1), now.date()
        recent = projects.project_ids(engine, org, first, today)
        listed = [(project, reports.summary(engine, org, project_id=project, date_from=first, date_to=today))
                  for project in recent[:MAX_PROJECTS]]
        buckets = [Item(bucket["start"][11:16], bucket["errors"], count(bucket["errors"]) if bucket["errors"]
                        else "") for bucket in overall["errors_per_bucket"]]
        return render(
            "live.html", principal=principal, org=org, overall=overall, campaigns=campaigns, listed=listed,
            unlisted=len(recent) - len(listed), first=first, today=today, refresh=REFRESH_SECONDS,
            sessions_chart=bars("Sessions started in the last 60 minutes, by campaign",
                                [Item(project, live["views"], count(live["views"]))
                                 for project, live in campaigns]),
            errors_chart=columns("Errors per 5 minutes (UTC), last 60 minutes", buckets),
        )

    def project(self, principal: Principal, org: str, project: str, date_from: date, date_to: date) -> str:
        self._readable(principal, org)
        engine = self.services.engine
        selection: reports.Selection = {"project_id": project, "date_from": date_from, "date_to": date_to}
        summary = reports.summary(engine, org, **selection)
        dropoff = reports.dropoff(engine, org, **selection)
        ctas = reports.ctas(engine, org, **selection)
        errors = reports.errors(engine, org, **selection)
        breakdowns = [(dimension, title, reports.breakdown(engine, org, dimension, **selection))
                      for dimension, title in DEVICE_DIMENSIONS]
        plays = dropoff["plays"]
        dropoff_chart = columns("Plays reaching each point of the video", [
            Item("Started", plays, count(plays)),
            *(Item(f"{milestone['percent']} %", milestone["sessions"], share(milestone["fraction"]))
              for milestone in dropoff["milestones"])], scale=plays)
        views = ctas["views"]
        funnel_chart = bars("CTA funnel: views, plays, views with a CTA click", [
            Item("Views", views, count(views)), Item("Plays", ctas["plays"], count(ctas["plays"])),
            Item("Clicked a CTA", ctas["cta_sessions"], _with_share(ctas["cta_sessions"], ctas["cta_ctr"])),
        ], scale=views)
        cta_chart = bars("Views that clicked each CTA", [
            Item(row["cta_name"] or row["cta_id"], row["sessions"],
                 _with_share(row["sessions"], row["cta_ctr"]))
            for row in ctas["ctas"][:TOP_ROWS]], scale=views)
        error_chart = bars("Errors by code", [
            Item(row["error_code"] or "unknown", row["errors"], count(row["errors"]))
            for row in errors["codes"][:TOP_ROWS]])
        breakdown_charts = [(dimension, title, result, bars(f"Views by {title.lower()}", [
            Item(row["value"] or "unknown", row["views"], _with_share(row["views"], row["share"]))
            for row in result["rows"][:TOP_ROWS]])) for dimension, title, result in breakdowns]
        return render(
            "project.html", principal=principal, org=org, project=project, date_from=date_from,
            date_to=date_to, summary=summary, dropoff=dropoff, ctas=ctas, errors=errors, top_rows=TOP_ROWS,
            dropoff_chart=dropoff_chart, funnel_chart=funnel_chart, cta_chart=cta_chart,
            error_chart=error_chart, breakdown_charts=breakdown_charts,
            export_path=EXPORT.format(org=quote(org), project=quote(project)))

    def overview(self, principal: Principal) -> str:
        if not principal.is_admin:
            raise ApiError(403, "admin_only", "the cross-organization overview needs an admin key")
        engine, now = self.services.engine, datetime.now(UTC)
        first, today = now.date() - timedelta(days=RANGE_DAYS - 1), now.date()
        rows = []
        for organization in self.services.registry.list():
            org = organization.organization_id
            summary = reports.summary(engine, org, date_from=first, date_to=today)
            live = reports.live(engine, org, now=now)
            rows.append((org, summary, live, health(summary, live)))
        chart = bars("Completion rate, last 30 days", [
            Item(org, summary["completion_rate"] or 0, share(summary["completion_rate"]))
            for org, summary, _, _ in rows], scale=1, width=760)
        return render("overview.html", principal=principal, rows=rows, chart=chart, first=first, today=today)

    def export(self, principal: Principal, org: str, project: str, form: Mapping[str, str],
               base_url: str) -> str:
        self._readable(principal, org)
        report_params.slug(project, "project_id")
        date_from = report_params.parse_date(form.get("from", ""), "from")
        date_to = report_params.parse_date(form.get("to", ""), "to")
        report_params.check_range(date_from, date_to)
        kind = form.get("kind", "events")
        if kind not in exports_api.KINDS:
            raise ApiError(400, "invalid_parameter", f"kind must be one of {', '.join(exports_api.KINDS)}",
                           "kind")
        selection = exports.ExportFilter(kind=kind, project_id=project, date_from=date_from, date_to=date_to)
        store = self.services.registry.store
        made = exports.create_export(store, self.services.engine, org, selection,
                                     actor=f"dashboard:{principal.actor}")
        signer = exports_api.url_signer(self.services.settings.token_keys)
        url = exports_api.download_url(signer, store, made, base_url)
        return render("export.html", principal=principal, org=org, project=project, made=made, url=url,
                      selection=selection, back=PROJECT.format(org=quote(org), project=quote(project))
                      + f"?from={date_from}&to={date_to}")


def routes(services: Services) -> list[BaseRoute]:
    sessions, pages, registry = Sessions(services.settings.token_keys), Pages(services), services.registry

    def still_valid(principal: Principal) -> None:
        """A session lasts only as long as its key: revoking the key signs it out."""
        active = (registry.admin_key_active(principal.key_id) if principal.organization_id is None
                  else registry.api_key_active(principal.organization_id, principal.key_id))
        if not active:
            raise ApiError(401, "session_ended", "the key of this session was revoked")

    async def page(request: Request, build: Callable[[Principal], str]) -> Response:
        principal = sessions.read(request.cookies.get(COOKIE))
        if principal is None:
            return RedirectResponse(SIGN_IN, 303)

        def run() -> str:
            still_valid(principal)
            return build(principal)

        try:
            return HTMLResponse(await run_in_threadpool(run), headers=_HEADERS)
        except ApiError as error:  # pages answer in HTML, not in the API's JSON
            if error.status == 401:
                response = RedirectResponse(SIGN_IN, 303)
                sessions.clear(response, secure=_secure(request))
                return response
            return HTMLResponse(render("refused.html", principal=principal, refusal=error),
                                error.status, headers=_HEADERS)

    async def home(request: Request) -> Response:
        principal = sessions.read(request.cookies.get(COOKIE))
        if principal is None:
            return RedirectResponse(SIGN_IN, 303)
        if principal.organization_id is None:
            return RedirectResponse(OVERVIEW, 303)
        return RedirectResponse(ORGANIZATION.format(org=quote(principal.organization_id)), 303)

    async def sign_in_form(request: Request) -> Response:
        return HTMLResponse(render("sign_in.html", principal=None, error=None), headers=_HEADERS)

    async def sign_in(request: Request) -> Response:
        if not _same_origin(request):
            return HTMLResponse(render("sign_in.html", principal=None, error="Sign in from this page."),
                                403, headers=_HEADERS)
        key = _form(await request.body()).get("key", "").strip() or None
        try:
            principal = await run_in_threadpool(api_keys.authenticate, registry, key)
        except ApiError:
            return HTMLResponse(render("sign_in.html", principal=None, error="That key is unknown, malformed "
                                       "or revoked."), 401, headers=_HEADERS)
        response = RedirectResponse(HOME, 303)
        sessions.issue(response, principal, secure=_secure(request))
        return response

    async def sign_out(request: Request) -> Response:
        response = RedirectResponse(SIGN_IN, 303)
        if _same_origin(request):
            sessions.clear(response, secure=_secure(request))
        return response

    async def organization(request: Request) -> Response:
        org = request.path_params["org"]
        return await page(request, lambda principal: pages.live(principal, org))

    async def project(request: Request) -> Response:
        org, project_id = request.path_params["org"], request.path_params["project"]

        def build(principal: Principal) -> str:
            report_params.slug(project_id, "project")
            today = datetime.now(UTC).date()
            query = request.query_params
            date_to = report_params.parse_date(query["to"], "to") if "to" in query else today
            date_from = (report_params.parse_date(query["from"], "from") if "from" in query
                         else date_to - timedelta(days=RANGE_DAYS - 1))
            report_params.check_range(date_from, date_to)
            return pages.project(principal, org, project_id, date_from, date_to)

        return await page(request, build)

    async def export(request: Request) -> Response:
        if not _same_origin(request):
            return HTMLResponse("cross-site request refused", 403, headers=_HEADERS)
        org, project_id = request.path_params["org"], request.path_params["project"]
        form, base_url = _form(await request.body()), str(request.base_url)
        return await page(request, lambda principal: pages.export(principal, org, project_id, form, base_url))

    async def overview(request: Request) -> Response:
        return await page(request, pages.overview)

    return [
        Route(HOME, home, methods=["GET"]),
        Route(SIGN_IN, sign_in_form, methods=["GET"]),
        Route(SIGN_IN, sign_in, methods=["POST"]),
        Route(SIGN_OUT, sign_out, methods=["POST"]),
        Route(OVERVIEW, overview, methods=["GET"]),
        Route(ORGANIZATION, organization, methods=["GET"]),
        Route(PROJECT, project, methods=["GET"]),
        Route(EXPORT, export, methods=["POST"]),
    ]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _same_origin(request: Request) -> bool:
    """A POST from one of our own pages (browsers send Origin on POST; SameSite=Strict does the rest)."""
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


def _form(body: bytes) -> dict[str, str]:
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    except ValueError:  # more fields than any of our forms has
        return {}
    return {name: values[0] for name, values in fields.items()}


def _html(description: str, status: str = "200", **more: Any) -> dict[str, Any]:
    return {status: {"description": description, "content": {"text/html": {}}}, **more}


_SEE_OTHER = {"303": {"description": "Redirect: to the sign-in page when not signed in (or the key was "
                                     "revoked), or to the signed-in key's first page"}}
_REFUSED = {"403": {"description": "The signed-in key may not open this page", "content": {"text/html": {}}}}
PATHS: dict[str, Any] = {
    HOME: {"get": {"summary": "Dashboard: redirects to the signed-in key's first page",
                   "responses": _SEE_OTHER}},
    SIGN_IN: {
        "get": {"summary": "Dashboard sign-in form", "responses": _html("The form")},
        "post": {"summary": "Sign in with an organization or admin key (form field `key`); sets the session "
                            "cookie (HttpOnly, SameSite=Strict, signed, 8 hours)",
                 "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                     "type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}}}},
                 "responses": {**_SEE_OTHER, **_html("Unknown, malformed or revoked key", "401"),
                               **_html("Posted from another site", "403")}},
    },
    SIGN_OUT: {"post": {"summary": "Sign out (clears the session cookie)", "responses": _SEE_OTHER}},
    OVERVIEW: {"get": {"summary": "Cross-organization overview (admin key)",
                       "responses": {**_html("The page"), **_SEE_OTHER, **_REFUSED}}},
    ORGANIZATION: {"get": {"summary": "Live campaigns of an organization (refreshes every 60 s)",
                           "parameters": [{"name": "org", "in": "path", "required": True,
                                           "schema": {"type": "string"}}],
                           "responses": {**_html("The page"), **_SEE_OTHER, **_REFUSED,
                                         **_html("Unknown organization (admin key)", "404")}}},
    PROJECT: {"get": {"summary": "A project's drill-down: drop-off, CTA funnel, errors, devices, locales, "
                                 "countries",
                      "parameters": [
                          {"name": "org", "in": "path", "required": True, "schema": {"type": "string"}},
                          {"name": "project", "in": "path", "required": True, "schema": {"type": "string"}},
                          {**report_params.FROM.openapi(), "description": "First day (default: 29 days "
                                                                          "before `to`)"},
                          {**report_params.TO.openapi(), "description": "Last day (default: today)"}],
                      "responses": {**_html("The page"), **_html("A bad date or range", "400"), **_SEE_OTHER,
                                    **_REFUSED}}},
    EXPORT: {"post": {"summary": "Export the drill-down's range as CSV (form fields kind, from, to); "
                                 "answers a page with the download link",
                      "parameters": [
                          {"name": "org", "in": "path", "required": True, "schema": {"type": "string"}},
                          {"name": "project", "in": "path", "required": True, "schema": {"type": "string"}}],
                      "responses": {**_html("The download page"), **_html("A bad date or range", "400"),
                                    **_SEE_OTHER, **_REFUSED}}},
}
