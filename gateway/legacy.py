"""Individeo's legacy endpoints: `indiTrack` posts translated to canonical events, and the embed
lookup the compat script uses to find a Percus player and share token for an attachment code.

A legacy post is bound to an organization only through a `trackerGroupKey` registered for it
(`percus org create --legacy-group-key`); the body's own organization fields are never read.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway._request import MALFORMED_JSON, json_body
from gateway.consent import gate
from gateway.enqueuer import enqueue_new
from gateway.enrichment import device_from_user_agent, geo_from_header, referrer_host
from gateway.errors import ApiError, error_doc
from gateway.ingest import MEDIA_TYPES
from gateway.services import Services
from pipeline.governance.value_policy import apply_value_policy
from translator.event_parser import EventError
from translator.individeo_wire import WIRE_EVENT_NAMES
from translator.legacy import LegacyError, read_post, translate

PATHS_TRACK = ("/analytics/v1/indiTrack", "/api/indiTrack")
INGEST_PATHS = PATHS_TRACK  # a request refused before it reaches the route is counted as a rejection too

log = logging.getLogger("percus.legacy")


def routes(services: Services) -> list[BaseRoute]:
    registry, enqueuer, recent = services.registry, services.require_enqueuer(), services.recent_ids
    policies, viewer_keys, metrics = services.value_policies, services.viewer_keys, services.metrics

    async def track(request: Request) -> Response:
        try:
            response, accepted, duplicates = await translated(request)
        except ApiError as error:
            if metrics is not None:
                metrics.rejected(error.code)
            raise
        if metrics is not None:
            metrics.answered(accepted, duplicates)
        return response

    async def translated(request: Request) -> tuple[Response, int, int]:
        """The answer, and how many events it accepted and answered as duplicates."""
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type not in MEDIA_TYPES:
            raise ApiError(415, "unsupported_media_type", "send the body as application/json or text/plain",
                           "content-type")
        try:
            body = json_body(await request.body())
        except ValueError:
            raise ApiError(400, "malformed_json", MALFORMED_JSON) from None
        try:
            post = read_post(request.query_params.get("evt"), body)
        except LegacyError as exc:
            raise ApiError(400, exc.code, exc.message, exc.field) from None
        organization = await run_in_threadpool(registry.organization_for_group_key, post.tracker_group_key)
        if organization is None:
            raise ApiError(403, "unknown_group_key", "this trackerGroupKey is not registered to any "
                           "organization", "trackerGroupKey")
        received_at = datetime.now(UTC)
        try:
            result = translate(post, organization_id=organization, received_at=received_at)
        except LegacyError as exc:
            raise ApiError(400, exc.code, exc.message, exc.field) from None
        if result.audited:
            log.info("legacy %s accepted for %s (audited, not stored)", result.evt, organization)
            return JSONResponse({"accepted": 0, "duplicates": 0, "rejected": [], "audited": True,
                                 "warnings": list(result.warnings)}, status_code=202), 0, 0
        stamp = {
            "received_at": received_at,
            "device": device_from_user_agent(request.headers.get("user-agent", "")),
            "geo": geo_from_header(request.headers.get("cloudfront-viewer-country")),
            "referrer_host": referrer_host(request.headers.get("referer")),
        }
        policy = await policies.of(organization)
        # One question for the post: shared recent ids take a lock per question.
        seen = recent.among(organization, [event.event_id.int for event in result.events]
                            + [retry_of.int for retry_of in result.retry_of])
        bodies, ids, duplicates = [], [], 0
        for event, retry_of in zip(result.events, result.retry_of, strict=True):
            try:
                blank = gate(event)
            except EventError as exc:  # the translator sets consent; a refusal here is a table bug
                raise ApiError(400, exc.code, exc.message, exc.field) from None
            if event.event_id.int in seen or retry_of.int in seen:
                duplicates += 1
                continue
            ids.append(event.event_id.int)
            event = apply_value_policy(event, policy, viewer_keys)
            bodies.append(event.model_copy(update={**stamp, **blank}).model_dump_json().encode())
        late = await enqueue_new(enqueuer, recent, organization, ids, bodies) if bodies else 0
        accepted, duplicates = len(bodies) - late, duplicates + late
        return JSONResponse({"accepted": accepted, "duplicates": duplicates, "rejected": [],
                             "audited": False, "warnings": list(result.warnings)}, status_code=202), \
            accepted, duplicates

    return [Route(path, track, methods=["POST"]) for path in PATHS_TRACK]


_TRACK_DOC = {
    "post": {
        "summary": "Individeo's legacy tracking post, translated to canonical events",
        "description": "Body as Individeo's smartTracking.js sends it (`event`, `trackerKey`, "
                       "`trackerGroupKey`, `ctaName`/`ctaValue`, …). The organization comes only from a "
                       "registered trackerGroupKey. See docs/migration-from-individeo.md.",
        "parameters": [{"name": "evt", "in": "query", "required": False,
                        "schema": {"type": "string", "enum": list(WIRE_EVENT_NAMES)}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {
            "202": {"description": "Translated and enqueued (or audited only, for onLog and the like)."},
            "400": error_doc("Malformed JSON, unknown evt, evt/event mismatch, missing trackerGroupKey…"),
            "403": error_doc("The trackerGroupKey is not registered to an organization."),
            "415": error_doc("Content type other than application/json or text/plain."),
            "429": error_doc("Rate limited."),
            "503": error_doc("The queue is unavailable; retry later."),
        },
    }
}
TAG = "legacy"
# The same operation at both addresses: Percus's, and Individeo's own path for pages that post there.
PATHS: dict[str, Any] = {path: {"post": {**_TRACK_DOC["post"], "operationId": name}}
                         for path, name in zip(PATHS_TRACK, ("legacy_track", "legacy_track_individeo_path"),
                                               strict=True)}
