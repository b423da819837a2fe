"""POST /analytics/v1/exports: a CSV of an organization's events (or daily summary rows) for a
filter, written to the store and answered with a download URL valid 24 hours.

On S3 the URL is a presigned S3 URL. On the embedded default it is this gateway's
GET /analytics/v1/exports/{export_id}?expires=…&sig=…, HMAC-signed over the export id and the
expiry: whoever holds the URL may download that one file until it expires, and changing any part of
it (another export, a later expiry) breaks the signature.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import api_keys, report_params
from gateway._request import MALFORMED_JSON, bearer, json_body
from gateway.errors import ApiError, error_doc
from gateway.report_params import ORGANIZATION, PROJECT, TEMPLATE
from gateway.services import Services
from gateway.signing import Signer
from pipeline.governance.key_ring import KeyRing
from pipeline.reporting import exports
from pipeline.reporting.exports import Export
from pipeline.reporting.names import Names
from pipeline.reporting.selection import Selection, parse_range, parse_slug
from pipeline.store.base import Store

PATH = "/analytics/v1/exports"
DOWNLOAD_PATH = "/analytics/v1/exports/{export_id}"
KINDS = exports.KINDS
_FIELDS = ("kind", "organization_id", "project_id", "template_id", "from", "to", "include_bots")


def url_signer(token_keys: KeyRing) -> Signer:
    return Signer(token_keys, "export download")


def download_url(signer: Signer, store: Store, made: Export, base_url: str) -> str:
    """The store's own URL (S3: presigned) or this gateway's signed one, valid until the export's expiry."""
    expires = int(made.expires_at.timestamp())
    return store.download_url(made.key, expires - int(time.time())) or (
        f"{base_url.rstrip('/')}{PATH}/{quote(made.export_id)}?expires={expires}"
        f"&sig={signer.sign(_signed(made.export_id, expires))}")


def routes(services: Services) -> list[BaseRoute]:
    registry, signer = services.registry, url_signer(services.settings.token_keys)

    def create(key: str | None, body: bytes, base_url: str) -> dict[str, Any]:
        principal = api_keys.authenticate(registry, key)
        named, kind, selection = _request(body)
        org = api_keys.organization(registry, principal, named)
        made = exports.create_export(registry.store, services.engine, org, selection, kind=kind,
                                     actor=principal.actor)
        return {"export_id": made.export_id, "organization_id": org, "kind": kind,
                "rows": made.rows, "bytes": made.bytes,
                "url": download_url(signer, registry.store, made, base_url),
                "expires_at": made.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "filters": Names.read(registry.store, org).label(selection.as_json())}

    async def post(request: Request) -> Response:
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        body = await request.body()
        if body and media_type != "application/json":
            raise ApiError(415, "unsupported_media_type", "send the body as application/json", "content-type")
        answer = await run_in_threadpool(create, bearer(request.headers.get("authorization")),
                                         body, str(request.base_url))
        return JSONResponse(answer, status_code=201, headers={"Cache-Control": "private, no-store"})

    async def download(request: Request) -> Response:
        export_id = request.path_params["export_id"]
        expires, signature = request.query_params.get("expires", ""), request.query_params.get("sig", "")
        well_formed = expires.isascii() and expires.isdigit()
        if not well_formed or not signer.verify(_signed(export_id, int(expires)), signature):
            raise ApiError(403, "export_signature_invalid", "this download URL is incomplete or was altered; "
                           "create the export again")
        if int(expires) < time.time():
            raise ApiError(403, "export_url_expired", "this download URL has expired (they last 24 hours); "
                           "create the export again")
        path = registry.store.local_path(exports.export_key(export_id))
        if path is None or not await run_in_threadpool(path.is_file):
            raise ApiError(404, "export_not_found", "this export no longer exists")
        return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"percus-{export_id}.csv",
                            headers={"Cache-Control": "private, no-store"})

    return [Route(PATH, post, methods=["POST"]), Route(DOWNLOAD_PATH, download, methods=["GET"])]


def _signed(export_id: str, expires: int) -> str:
    return f"{export_id}\n{expires}"


def _request(body: bytes) -> tuple[str | None, str, Selection]:
    """The export request, checked: the organization named (None: the key's own), the kind, the selection."""
    try:
        data = json_body(body) if body else {}
    except ValueError:
        raise ApiError(400, "malformed_json", MALFORMED_JSON) from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_body", "the body must be a JSON object")
    for name, value in data.items():
        if name not in _FIELDS:
            raise ApiError(400, "unknown_field", f"unknown field {name!r}; an export takes "
                           f"{', '.join(_FIELDS)}", name)
        expected = bool if name == "include_bots" else str
        if value is not None and not isinstance(value, expected):
            raise ApiError(400, "invalid_parameter", f"{name} must be a {expected.__name__}", name)
    kind = data.get("kind")
    kind = "events" if kind is None else kind  # null is the default; "" is no kind
    if kind not in KINDS:
        raise ApiError(400, "invalid_parameter", f"kind must be one of {', '.join(KINDS)}", "kind")
    with report_params.refusal():
        ids = {name: parse_slug(data[name], name) for name in ("organization_id", "project_id", "template_id")
               if data.get(name) is not None}
        date_from, date_to = parse_range(data.get("from"), data.get("to"))
    organization_id = ids.pop("organization_id", None)
    selection = Selection(date_from=date_from, date_to=date_to, include_bots=bool(data.get("include_bots")),
                          **ids)
    try:
        exports.check_selection(kind, selection)
    except ValueError as exc:
        field = "project_id" if selection.project_id else "template_id"
        raise ApiError(400, "invalid_parameter", str(exc), field) from None
    return organization_id, kind, selection


# -- OpenAPI ---------------------------------------------------------------------------------------

def _property(param: report_params.Param) -> dict[str, Any]:
    """A body field as its query parameter, or null: the default, as if left out."""
    return {**param.schema, "type": [param.schema["type"], "null"], "description": param.description}


_REQUEST = {"type": "object", "additionalProperties": False, "properties": {
    "kind": {"type": ["string", "null"], "enum": [*KINDS, None], "default": "events",
             "description": "events: one row per curated event (every column, timestamps in ISO-8601 UTC); "
                            "summary: one row per day with the summary metrics; engagement: one row per 1 % "
                            "of the video with the engagement report's counts and shares; outcomes: one row "
                            "per business outcome that occurred in the range (keyed viewer_hash; no project "
                            "or template filter)."},
    **{param.name: _property(param) for param in (ORGANIZATION, PROJECT, TEMPLATE)},
    "from": _property(report_params.FROM), "to": _property(report_params.TO),
    "include_bots": _property(report_params.BOTS)}}
_CREATED = {"type": "object", "required": ["export_id", "organization_id", "kind", "rows", "bytes", "url",
                                           "expires_at", "filters"], "properties": {
    "export_id": {"type": "string"}, "organization_id": {"type": "string"}, "kind": {"type": "string"},
    "rows": {"type": "integer", "description": "Data rows in the CSV (after the header)."},
    "bytes": {"type": "integer"},
    "url": {"type": "string", "format": "uri", "description": "Download URL: a presigned S3 URL on AWS, "
            "a signed gateway URL on the embedded default. Anyone holding it can download the file."},
    "expires_at": {"type": "string", "format": "date-time"},
    "filters": {"type": "object", "description": "The filters as understood, with project_name and "
                "template_name beside project_id and template_id (null: not named by the platform)."}}}

TAG = "exports"
PATHS: dict[str, Any] = {
    PATH: {"post": {
        "operationId": "create_export",
        "summary": "Export a CSV of the filter's events, daily summary rows or business outcomes",
        "description": "Streams the rows to a CSV under exports/ in the store and answers a download URL "
                       "valid 24 hours. Every export is recorded in the audit log. See docs/api.md "
                       "(Exports).",
        "security": [{"apiKey": []}],
        "requestBody": {"required": False, "content": {"application/json": {"schema": _REQUEST}}},
        "responses": {
            "201": {"description": "The export is written", "content": {"application/json": {
                "schema": _CREATED}}},
            "400": error_doc("malformed_json, invalid_body, unknown_field, invalid_parameter, invalid_date, "
                             "invalid_range, range_too_long, organization_required; `field` names it."),
            "401": error_doc("No API key, or an unknown, malformed or revoked one."),
            "403": error_doc("An organization key naming another organization (organization_forbidden)."),
            "404": error_doc("An admin key naming an organization that does not exist."),
            "415": error_doc("A body that is not application/json."),
        },
    }},
    DOWNLOAD_PATH: {"get": {
        "operationId": "download_export",
        "summary": "Download an export through its signed URL (embedded default)",
        "description": "Only as handed out by POST /analytics/v1/exports: the signature covers the export "
                       "id and the expiry.",
        "parameters": [
            {"name": "export_id", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "expires", "in": "query", "required": True, "schema": {"type": "integer"},
             "description": "Unix seconds after which the URL is refused."},
            {"name": "sig", "in": "query", "required": True, "schema": {"type": "string"},
             "description": "HMAC-SHA256 signature of the export id and expiry (base64url)."}],
        "responses": {
            "200": {"description": "The CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
            "403": error_doc("export_signature_invalid (missing, altered or forged) or export_url_expired."),
            "404": error_doc("The export no longer exists (export_not_found)."),
        },
    }},
}
