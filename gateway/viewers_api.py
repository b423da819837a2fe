"""POST /analytics/v1/viewers/lookup: the engagement of up to 10,000 client-side viewer hashes, each
answered beside the hash as sent, so a customer can join it to its CRM in its own warehouse.

The hashes are used in memory only (pipeline/reporting/viewer_lookup.py); the request is audited by
count, never by hash, and limited per API key (LIMIT: 10 requests a minute, a burst of 10).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import api_keys
from gateway._request import MALFORMED_JSON, bearer, json_body
from gateway.errors import ApiError, error_doc
from gateway.middleware.rate_limit import Buckets, Limit, TokenBuckets
from gateway.services import Services
from pipeline.governance import audit
from pipeline.outcomes.rows import parse_member
from pipeline.reporting.viewer_lookup import MAX_HASHES, lookup
from translator.refusal import ItemError

PATH = "/analytics/v1/viewers/lookup"
BODY_LIMITS = {PATH: 1024 * 1024}  # 10,000 hashes are about 670 KB
LIMIT = Limit(rate=10 / 60, burst=10)
clock = time.monotonic  # the rate limit's clock (tests stop it)


def routes(services: Services) -> list[BaseRoute]:
    registry, keys = services.registry, services.viewer_keys
    shared = services.shared_buckets
    buckets: TokenBuckets = Buckets(LIMIT, capacity=10_000) if shared is None else shared.limited(LIMIT)
    salt = secrets.token_bytes(16) if shared is None else shared.salt

    def authorised(key: str | None, named: str | None) -> tuple[api_keys.Principal, str]:
        principal = api_keys.authenticate(registry, key)
        return principal, api_keys.organization(registry, principal, named)

    def answer(principal: api_keys.Principal, org: str, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or "viewer_hashes" not in data:
            raise ApiError(400, "missing_field", "the body is {\"viewer_hashes\": [...]}", "viewer_hashes")
        sent = data["viewer_hashes"]
        if not isinstance(sent, list) or not sent:
            raise ApiError(400, "invalid_batch", "viewer_hashes must be a non-empty list", "viewer_hashes")
        if len(sent) > MAX_HASHES:
            raise ApiError(413, "too_many_hashes", f"viewer_hashes holds at most {MAX_HASHES} items, not "
                           f"{len(sent)}", "viewer_hashes")
        echoed: dict[str, str] = {}  # checked hash -> as first sent
        rejected = []
        for index, item in enumerate(sent):
            try:
                echoed.setdefault(parse_member(item, index), item)
            except ItemError as exc:
                rejected.append({"index": index, "error": exc.as_json()})
        found = lookup(services.engine, org, list(echoed), keys)
        viewers = [{"viewer_hash": echoed[client], **engagement} for client, engagement in found.items()]
        audit.record(registry.store, "viewers.looked_up", {"organization_id": org}, {
            "hashes": len(echoed), "found": sum(1 for row in viewers if row["sessions"]),
            "rejected": len(rejected)}, actor=principal.actor)
        return {"organization_id": org, "viewers": viewers, "rejected": rejected}

    async def post(request: Request) -> Response:
        unknown = sorted(set(request.query_params) - {"organization_id"})
        if unknown:
            message = f"unknown parameter {unknown[0]!r}; this endpoint takes organization_id"
            raise ApiError(400, "unknown_parameter", message, unknown[0])
        principal, org = await run_in_threadpool(authorised, bearer(request.headers.get("authorization")),
                                                 request.query_params.get("organization_id"))
        key = hashlib.blake2b(b"v" + principal.key_id.encode(), key=salt, digest_size=16).digest()
        wait = buckets.take(key, clock())  # on the event loop: one at a time
        if wait:
            retry = {"Retry-After": str(max(1, math.ceil(wait)))}
            raise ApiError(429, "rate_limited", f"at most {LIMIT.burst:g} lookups a minute per API key; "
                           "retry after Retry-After seconds", headers=retry)
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            raise ApiError(415, "unsupported_media_type", "send the body as application/json", "content-type")
        try:
            data = json_body(await request.body())
        except ValueError:
            raise ApiError(400, "malformed_json", MALFORMED_JSON) from None
        body = await run_in_threadpool(answer, principal, org, data)
        return JSONResponse(body, headers={"Cache-Control": "private, no-store"})

    return [Route(PATH, post, methods=["POST"])]


_ENGAGEMENT = {
    "sessions": {"type": "integer", "description": "Views (tracked sessions), bots excluded."},
    "first_seen": {"type": ["string", "null"], "format": "date-time", "description": "First session start."},
    "last_seen": {"type": ["string", "null"], "format": "date-time", "description": "Last session start."},
    "furthest_percent": {"type": ["number", "null"],
                         "description": "Furthest percent played (100: completed)."},
    "completed": {"type": "boolean"},
    "ctas_clicked": {"type": "object", "additionalProperties": {"type": "integer"},
                     "description": "Clicks by CTA name (its id when it has no name)."},
    "watched": {"type": ["string", "null"], "pattern": "^[0-9a-f]{25}$",
                "description": "The buckets of 1 % of the video its plays watched, their union, in the form "
                               "of docs/player-protocol.md; null when no player sent any."},
    "watched_again": {"type": ["string", "null"], "pattern": "^[0-9a-f]{25}$",
                      "description": "The buckets it watched again, their union; null when no player sent "
                                     "any."},
}
TAG = "outcomes"
PATHS: dict[str, Any] = {PATH: {"post": {
    "operationId": "look_up_viewers",
    "summary": f"Engagement of up to {MAX_HASHES} client-side viewer hashes, for a join in your warehouse",
    "description": "`{\"viewer_hashes\": [...]}`: the hashes the SDK computes. Each is answered beside the "
                   "hash as sent, overall and per project. The hashes are used in memory only; the "
                   "request is audited by count. At most 10 requests a minute per API key. See docs/api.md.",
    "security": [{"apiKey": []}],
    "parameters": [{"name": "organization_id", "in": "query", "required": False, "schema": {"type": "string"},
                    "description": "An admin key names the organization; an organization key may omit it."}],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["viewer_hashes"], "properties": {"viewer_hashes": {
            "type": "array", "minItems": 1, "maxItems": MAX_HASHES,
            "items": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}}}}}}},
    "responses": {
        "200": {"description": "Each distinct hash with its engagement, and the rejected items.",
                "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "organization_id": {"type": "string"},
                    "viewers": {"type": "array", "items": {"type": "object", "properties": {
                        "viewer_hash": {"type": "string"}, **_ENGAGEMENT,
                        "projects": {"type": "array", "items": {"type": "object", "properties": {
                            "project_id": {"type": ["string", "null"]},
                            "project_name": {"type": ["string", "null"], "description": "From the "
                                             "platform's ProjectCreated (null: not known)"},
                            **_ENGAGEMENT}}}}}},
                    "rejected": {"type": "array", "items": {"type": "object", "properties": {
                        "index": {"type": "integer"},
                        "error": {"$ref": "#/components/schemas/ErrorDetail"}}}},
                }}}}},
        "400": error_doc("Malformed JSON, no viewer_hashes (missing_field), an empty or non-list batch "
                         "(invalid_batch), an unknown parameter, organization_required."),
        "401": error_doc("No API key (api_key_missing), or an unknown, malformed or revoked one "
                         "(api_key_invalid)."),
        "403": error_doc("An organization key naming another organization (organization_forbidden)."),
        "404": error_doc("An admin key naming an organization that does not exist "
                         "(unknown_organization)."),
        "413": error_doc(f"Over {MAX_HASHES} hashes (too_many_hashes) or a body over 1 MB."),
        "415": error_doc("Content type other than application/json."),
        "429": error_doc("More than 10 lookups a minute with this key (rate_limited); retry after the "
                         "Retry-After header's seconds."),
    },
}}}
