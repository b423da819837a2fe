"""POST /analytics/v1/platform-events: the platform's integration events over HTTP, with an admin
key, for the embedded default and for backfills (on AWS they also arrive by SQS; both go to
pipeline/platform/handler.py). docs/platform-events.md."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import api_keys
from gateway._request import MALFORMED_JSON, bearer, json_body
from gateway.errors import ApiError, error_doc
from gateway.services import Services
from pipeline.governance.registry import OrganizationRegistry
from pipeline.platform.handler import ACTOR, handle

PATH = "/analytics/v1/platform-events"
MAX_EVENTS = 1000


def _items(body: bytes) -> tuple[list[Any], bool]:
    """(the events, whether the body was a batch)."""
    try:
        data = json_body(body)
    except ValueError:
        raise ApiError(400, "malformed_json", MALFORMED_JSON) from None
    if isinstance(data, dict) and isinstance(data.get("events"), list):
        if not data["events"]:
            raise ApiError(400, "empty_batch", "events must hold at least one event", "events")
        if len(data["events"]) > MAX_EVENTS:
            raise ApiError(413, "too_many_events", f"a batch holds at most {MAX_EVENTS} events", "events")
        return data["events"], True
    if isinstance(data, dict):
        return [data], False
    raise ApiError(400, "invalid_body", "send one integration event or {\"events\": [...]}")


def routes(services: Services) -> list[BaseRoute]:
    store = services.registry.store

    def receive(key: str | None, body: bytes) -> dict[str, Any]:
        principal = api_keys.authenticate(services.registry, key)
        if not principal.is_admin:
            raise ApiError(403, "admin_key_required", "integration events need an admin key "
                           "(`percus admin key`)")
        items, batch = _items(body)
        registry = OrganizationRegistry(store, actor=f"{ACTOR} ({principal.actor})")
        outcome = handle(registry, items, datetime.now(UTC))
        if not batch and outcome.rejected:
            [refused] = outcome.rejected
            raise ApiError(400, refused["code"], refused["message"], refused["field"])
        return outcome.as_json()

    async def post(request: Request) -> Response:
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            raise ApiError(415, "unsupported_media_type", "send the body as application/json", "content-type")
        answer = await run_in_threadpool(receive, bearer(request.headers.get("authorization")),
                                         await request.body())
        return JSONResponse(answer, status_code=202)

    return [Route(PATH, post, methods=["POST"])]


_EVENT = {"type": "object", "required": ["event_id", "type", "occurred_at", "organization_id"],
          "description": "One integration event: the envelope and its type's fields "
                         "(docs/platform-events.md, "
                         "docs/schema/platform-event-v1.json).",
          "properties": {"event_id": {"type": "string", "format": "uuid"}, "type": {"type": "string"},
                         "occurred_at": {"type": "string"}, "organization_id": {"type": "string"}}}
_RESULT = {"type": "object", "required": ["accepted", "duplicates", "ignored", "rejected"], "properties": {
    "accepted": {"type": "integer"}, "duplicates": {"type": "integer"},
    "ignored": {"type": "integer",
                "description": "Events of a type this version does not know: stored only."},
    "rejected": {"type": "array", "items": {"type": "object", "properties": {
        "index": {"type": "integer"}, "code": {"type": "string"}, "message": {"type": "string"},
        "field": {"type": ["string", "null"]}}}}}}

TAG = "platform"
PATHS: dict[str, Any] = {
    PATH: {"post": {
        "operationId": "send_platform_events",
        "summary": "Integration events from the platform's services (admin key)",
        "description": "One event or {\"events\": [...]} (at most 1000). Idempotent by event_id; each "
                       "entity's "
                       "state follows occurred_at, whatever the delivery order; unknown types are stored and "
                       "ignored. See docs/platform-events.md.",
        "security": [{"apiKey": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
            _EVENT, {"type": "object", "required": ["events"], "properties": {
                "events": {"type": "array", "minItems": 1, "maxItems": MAX_EVENTS, "items": _EVENT}}}]}}}},
        "responses": {
            "202": {"description": "Stored (a batch's refused events are listed in rejected)",
                    "content": {"application/json": {"schema": _RESULT}}},
            "400": error_doc("malformed_json, invalid_body, empty_batch, or a single event that is invalid "
                             "(invalid_field, `field` names it)."),
            "401": error_doc("No API key, or an unknown, malformed or revoked one."),
            "403": error_doc("An organization key: integration events need an admin key "
                             "(admin_key_required)."),
            "413": error_doc("Over 1000 events (too_many_events)."),
            "415": error_doc("A body that is not application/json."),
        },
    }},
}
