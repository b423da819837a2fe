"""GET /dashboard: the built-in dashboard, rendered on the server with jinja2, charts as inline SVG.

Pages: sign-in (an organization or admin key → a signed session cookie), live campaigns of an
organization (refreshed every 60 s), a project's drill-down, and the cross-organization overview
(admin key only). An organization's key opens that organization's pages only (403 otherwise). The
pages hold no script (but for the waiting page's poll, `templates/waiting.js`) and load nothing from
elsewhere, so they work offline; the numbers are those
of the reports API (`pipeline.reporting.reports`), gathered in a worker thread by `dashboard_pages.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import api_keys, report_params
from gateway.api_keys import Principal
from gateway.dashboard_pages import FIRST_PROJECT, RANGE_DAYS, Pages, render
from gateway.dashboard_session import COOKIE, Sessions
from gateway.errors import ApiError, error_doc
from gateway.services import Services
from pipeline.reporting.selection import check_range, parse_date, parse_slug

HOME = "/dashboard"
SIGN_IN = "/dashboard/sign-in"
SIGN_OUT = "/dashboard/sign-out"
OVERVIEW = "/dashboard/overview"
ORGANIZATION = "/dashboard/orgs/{org}"
PROJECT = "/dashboard/orgs/{org}/projects/{project}"
EXPORT = "/dashboard/orgs/{org}/projects/{project}/export"
FIRST_EVENT = "/dashboard/orgs/{org}/first-event"  # JSON: the waiting page's poll
WAITING_SCRIPT = "/dashboard/waiting.js"

_HEADERS = {
    # No script at all; styles are inline; forms post here only; no framing (clickjacking).
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make Chromium send `Origin: null` on our forms
    "Cache-Control": "private, no-store",
}
# The waiting page runs one script of ours, which asks our server only.
_WAITING_HEADERS = {**_HEADERS, "Content-Security-Policy": _HEADERS["Content-Security-Policy"].replace(
    "default-src 'none';", "default-src 'none'; script-src 'self'; connect-src 'self';")}
_SCRIPT = (Path(__file__).parent / "templates" / "waiting.js").read_bytes()


@dataclass(frozen=True)
class Html:
    """A page and the headers it is sent with."""

    text: str
    headers: Mapping[str, str]


def routes(services: Services) -> list[BaseRoute]:
    sessions, pages, registry = Sessions(services.settings.token_keys), Pages(services), services.registry

    def still_valid(principal: Principal) -> None:
        """A session lasts only as long as its key: revoking the key signs it out."""
        active = (registry.admin_key_active(principal.key_id) if principal.organization_id is None
                  else registry.api_key_active(principal.organization_id, principal.key_id))
        if not active:
            raise ApiError(401, "session_ended", "the key of this session was revoked")

    async def page(request: Request, build: Callable[[Principal], str | Html]) -> Response:
        principal = sessions.read(request.cookies.get(COOKIE))
        if principal is None:
            return RedirectResponse(SIGN_IN, 303)

        def run() -> Html:
            still_valid(principal)
            built = build(principal)
            return built if isinstance(built, Html) else Html(built, _HEADERS)

        try:
            built = await run_in_threadpool(run)
            return HTMLResponse(built.text, headers=dict(built.headers))
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
        status_path = FIRST_EVENT.format(org=quote(org))
        project_id = request.query_params.get("project", FIRST_PROJECT)

        def build(principal: Principal) -> str | Html:
            if pages.has_events(principal, org):
                shown = report_params.boolean(request.query_params.get("include_archived", "false"),
                                              "include_archived")
                return pages.live(principal, org, include_archived=shown)
            return Html(pages.waiting(principal, org, project_id, base_url=str(request.base_url),
                                      status_path=status_path, script_path=WAITING_SCRIPT), _WAITING_HEADERS)

        return await page(request, build)

    async def first_event(request: Request) -> Response:
        """Whether the organization's first event is counted: {"organization_id", "counted"}."""
        principal = sessions.read(request.cookies.get(COOKIE))
        if principal is None:
            raise ApiError(401, "signed_out", "sign in to the dashboard first")
        org = request.path_params["org"]

        def run() -> bool:
            still_valid(principal)
            return pages.has_events(principal, org)

        counted = await run_in_threadpool(run)
        return JSONResponse({"organization_id": org, "counted": counted},
                            headers={"Cache-Control": "no-store"})

    async def waiting_script(request: Request) -> Response:
        return Response(_SCRIPT, media_type="text/javascript",
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    async def project(request: Request) -> Response:
        org, project_id = request.path_params["org"], request.path_params["project"]

        def build(principal: Principal) -> str:
            today = datetime.now(UTC).date()
            query = request.query_params
            with report_params.refusal():
                parse_slug(project_id, "project")
                date_to = parse_date(query["to"], "to") if "to" in query else today
                check_range(None, date_to)  # before the default `from` is counted back from it
                date_from = (parse_date(query["from"], "from") if "from" in query
                             else date_to - timedelta(days=RANGE_DAYS - 1))
                check_range(date_from, date_to)
            return pages.project(principal, org, project_id, date_from, date_to,
                                 export_path=EXPORT.format(org=quote(org), project=quote(project_id)))

        return await page(request, build)

    async def export(request: Request) -> Response:
        if not _same_origin(request):
            return HTMLResponse("cross-site request refused", 403, headers=_HEADERS)
        org, project_id = request.path_params["org"], request.path_params["project"]
        form, base_url = _form(await request.body()), str(request.base_url)
        project_path = PROJECT.format(org=quote(org), project=quote(project_id))
        return await page(request, lambda principal: pages.export(principal, org, project_id, form, base_url,
                                                                  project_path=project_path))

    async def overview(request: Request) -> Response:
        return await page(request, pages.overview)

    return [
        Route(HOME, home, methods=["GET"]),
        Route(SIGN_IN, sign_in_form, methods=["GET"]),
        Route(SIGN_IN, sign_in, methods=["POST"]),
        Route(SIGN_OUT, sign_out, methods=["POST"]),
        Route(OVERVIEW, overview, methods=["GET"]),
        Route(ORGANIZATION, organization, methods=["GET"]),
        Route(FIRST_EVENT, first_event, methods=["GET"]),
        Route(WAITING_SCRIPT, waiting_script, methods=["GET"]),
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
TAG = None  # pages: not in the API document
PATHS: dict[str, Any] = {
    HOME: {"get": {"operationId": "dashboard_home",
                   "summary": "Dashboard: redirects to the signed-in key's first page",
                   "responses": _SEE_OTHER}},
    SIGN_IN: {
        "get": {"operationId": "dashboard_sign_in_form",
                "summary": "Dashboard sign-in form", "responses": _html("The form")},
        "post": {"operationId": "dashboard_sign_in",
                 "summary": "Sign in with an organization or admin key (form field `key`); sets the session "
                            "cookie (HttpOnly, SameSite=Strict, signed, 8 hours)",
                 "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                     "type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}}}},
                 "responses": {**_SEE_OTHER, **_html("Unknown, malformed or revoked key", "401"),
                               **_html("Posted from another site", "403")}},
    },
    SIGN_OUT: {"post": {"operationId": "dashboard_sign_out",
                        "summary": "Sign out (clears the session cookie)", "responses": _SEE_OTHER}},
    OVERVIEW: {"get": {"operationId": "dashboard_overview",
                       "summary": "Cross-organization overview (admin key)",
                       "responses": {**_html("The page"), **_SEE_OTHER, **_REFUSED}}},
    ORGANIZATION: {"get": {"operationId": "dashboard_organization",
                           "summary": "Live campaigns of an organization (refreshes every 60 s); before "
                                      "its first event is counted, its install snippet and a wait for it",
                           "parameters": [{"name": "org", "in": "path", "required": True,
                                           "schema": {"type": "string"}},
                                          {"name": "project", "in": "query", "required": False,
                                           "description": "The snippet token's project, while the org "
                                                          f"has no data (default {FIRST_PROJECT})",
                                           "schema": {"type": "string"}},
                                          report_params.ARCHIVED.openapi()],
                           "responses": {**_html("The page"),
                                         **_html("A malformed project id or include_archived", "400"),
                                         **_SEE_OTHER, **_REFUSED,
                                         **_html("Unknown organization (admin key)", "404")}}},
    FIRST_EVENT: {"get": {"operationId": "dashboard_first_event",
                          "summary": "Whether an organization's first event is counted (the waiting page's "
                                     "poll; signed in with the dashboard's session cookie)",
                          "parameters": [{"name": "org", "in": "path", "required": True,
                                          "schema": {"type": "string"}}],
                          "responses": {"200": {"description": "counted: true once any event is compacted",
                                                "content": {"application/json": {"schema": {
                                                    "type": "object",
                                                    "required": ["organization_id", "counted"],
                                                    "properties": {"organization_id": {"type": "string"},
                                                                   "counted": {"type": "boolean"}}}}}},
                                        "401": error_doc("Not signed in, or the session's key was revoked"),
                                        "403": error_doc("The signed-in key may not read this organization"),
                                        "404": error_doc("Unknown organization (admin key)")}}},
    WAITING_SCRIPT: {"get": {"operationId": "dashboard_waiting_script",
                             "summary": "The waiting page's script: polls the first-event status",
                             "responses": {"200": {"description": "JavaScript",
                                                   "content": {"text/javascript": {}}}}}},
    PROJECT: {"get": {"operationId": "dashboard_project",
                      "summary": "A project's drill-down: drop-off, CTA funnel, errors, devices, locales, "
                                 "countries",
                      "parameters": [
                          {"name": "org", "in": "path", "required": True, "schema": {"type": "string"}},
                          {"name": "project", "in": "path", "required": True, "schema": {"type": "string"}},
                          {**report_params.FROM.openapi(), "description": "First day (default: 29 days "
                                                                          "before `to`)"},
                          {**report_params.TO.openapi(), "description": "Last day (default: today)"}],
                      "responses": {**_html("The page"), **_html("A bad date or range", "400"), **_SEE_OTHER,
                                    **_REFUSED}}},
    EXPORT: {"post": {"operationId": "dashboard_export",
                      "summary": "Export the drill-down's range as CSV (form fields kind, from, to); "
                                 "answers a page with the download link",
                      "parameters": [
                          {"name": "org", "in": "path", "required": True, "schema": {"type": "string"}},
                          {"name": "project", "in": "path", "required": True, "schema": {"type": "string"}}],
                      "responses": {**_html("The download page"), **_html("A bad date or range", "400"),
                                    **_SEE_OTHER, **_REFUSED}}},
}
