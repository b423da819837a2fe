"""POST /analytics/v1/outcomes and /analytics/v1/audiences/{name}: a customer's business outcomes and
audiences, with an organization API key (an admin key names the organization with `organization_id`).

Answered like the events endpoint: 202 with accepted, duplicates and the rejected items, each on its
own; a single outcome that is refused is a 400. Every client-side viewer hash is keyed before it is
stored (pipeline/outcomes/intake.py) and is never logged or audited; each request is audited by count.
"""

from __future__ import annotations

from collections.abc import Callable
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
from pipeline.governance import audit
from pipeline.outcomes.intake import Stored, add_members, store_outcomes
from pipeline.outcomes.rows import MAX_AUDIENCE_HASHES, MAX_OUTCOMES, parse_member, parse_outcome
from translator.ids import check_slug
from translator.refusal import ItemError

OUTCOMES_PATH = "/analytics/v1/outcomes"
AUDIENCES_PATH = "/analytics/v1/audiences/{name}"
# 10,000 hashes of 64 characters with their quotes and commas are about 670 KB.
BODY_LIMITS = {"/analytics/v1/audiences/": 1024 * 1024}
_ANSWER_HEADERS = {"Cache-Control": "private, no-store"}


def routes(services: Services) -> list[BaseRoute]:
    registry, keys = services.registry, services.viewer_keys

    def organization(request: Request) -> tuple[str, str]:
        """(organization, actor) of the request's key; blocking (reads the registry)."""
        principal = api_keys.authenticate(registry, bearer(request.headers.get("authorization")))
        unknown = sorted(set(request.query_params) - {"organization_id"})
        if unknown:
            message = f"unknown parameter {unknown[0]!r}; this endpoint takes organization_id"
            raise ApiError(400, "unknown_parameter", message, unknown[0])
        named = request.query_params.get("organization_id")
        return api_keys.organization(registry, principal, named), principal.actor

    def answer(stored: Stored, rejected: list[dict[str, Any]]) -> Response:
        body = {"accepted": stored.accepted, "duplicates": stored.duplicates, "rejected": rejected}
        return JSONResponse(body, status_code=202, headers=_ANSWER_HEADERS)

    async def post_outcomes(request: Request) -> Response:
        org, actor = await run_in_threadpool(organization, request)
        data = await _json(request)
        now = datetime.now(UTC)
        if isinstance(data, dict) and "outcomes" in data and "outcome_id" not in data:
            items = _items(data["outcomes"], "outcomes", MAX_OUTCOMES, "too_many_outcomes")
            parsed, rejected = _each(items, lambda item, _: parse_outcome(item, now=now), "outcome_id")
        else:
            try:
                parsed, rejected = [parse_outcome(data, now=now)], []
            except ItemError as exc:
                raise ApiError(400, exc.code, exc.message, exc.field) from None

        def store() -> Stored:
            stored = store_outcomes(registry.store, org, parsed, keys, received_at=now)
            audit.record(registry.store, "outcomes.received", {"organization_id": org}, {
                "accepted": stored.accepted, "duplicates": stored.duplicates, "rejected": len(rejected),
                "days": [day.isoformat() for day in stored.days]}, now=now, actor=actor)
            return stored

        return answer(await run_in_threadpool(store), rejected)

    async def post_audience(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            check_slug(name, "audience")
        except ValueError as exc:
            raise ApiError(400, "invalid_parameter", str(exc), "name") from None
        org, actor = await run_in_threadpool(organization, request)
        data = await _json(request)
        if not isinstance(data, dict) or "viewer_hashes" not in data:
            raise ApiError(400, "missing_field", "the body is {\"viewer_hashes\": [...]}", "viewer_hashes")
        items = _items(data["viewer_hashes"], "viewer_hashes", MAX_AUDIENCE_HASHES, "too_many_hashes")
        hashes, rejected = _each(items, parse_member, None)
        now = datetime.now(UTC)

        def store() -> Stored:
            stored = add_members(registry.store, org, name, hashes, keys, received_at=now)
            audit.record(registry.store, "audience.added", {"organization_id": org, "audience": name}, {
                "accepted": stored.accepted, "duplicates": stored.duplicates, "rejected": len(rejected)},
                now=now, actor=actor)
            return stored

        return answer(await run_in_threadpool(store), rejected)

    return [Route(OUTCOMES_PATH, post_outcomes, methods=["POST"]),
            Route(AUDIENCES_PATH, post_audience, methods=["POST"])]


async def _json(request: Request) -> Any:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json", "content-type")
    try:
        return json_body(await request.body())
    except ValueError:
        raise ApiError(400, "malformed_json", MALFORMED_JSON) from None


def _items(value: Any, field: str, most: int, too_many: str) -> list[Any]:
    if not isinstance(value, list):
        raise ApiError(400, "invalid_batch", f"{field} must be a list", field)
    if not value:
        raise ApiError(400, "empty_batch", f"{field} must hold at least one item", field)
    if len(value) > most:
        raise ApiError(413, too_many, f"{field} holds at most {most} items, not {len(value)}", field)
    return value


def _each(items: list[Any], parse: Callable[[Any, int], Any], id_field: str | None
          ) -> tuple[list[Any], list[dict[str, Any]]]:
    """The items that parse, and a rejection per item that does not (its index, its id as sent)."""
    parsed, rejected = [], []
    for index, item in enumerate(items):
        try:
            parsed.append(parse(item, index))
        except ItemError as exc:
            refusal: dict[str, Any] = {"index": index, "error": exc.as_json()}
            if id_field is not None:
                sent = item.get(id_field) if isinstance(item, dict) else None
                refusal[id_field] = sent if isinstance(sent, str) and len(sent) <= 64 else None
            rejected.append(refusal)
    return parsed, rejected


# -- OpenAPI ---------------------------------------------------------------------------------------

def _result(items: str) -> dict[str, Any]:
    return {"description": f"Accepted: {items} stored now, duplicates of stored ones, and each rejected "
                           "item with its index and error.",
            "content": {"application/json": {"schema": {"type": "object", "properties": {
                "accepted": {"type": "integer"}, "duplicates": {"type": "integer"},
                "rejected": {"type": "array", "items": {"type": "object", "properties": {
                    "index": {"type": "integer"}, "outcome_id": {"type": ["string", "null"]},
                    "error": {"$ref": "#/components/schemas/ErrorDetail"}}}}}}}}}


_ORG_PARAM = {"name": "organization_id", "in": "query", "required": False, "schema": {"type": "string"},
              "description": "An admin key names the organization; an organization key may omit it."}
_AUTH_ERRORS = {
    "401": error_doc("No API key (api_key_missing), or an unknown, malformed or revoked one "
                     "(api_key_invalid)."),
    "403": error_doc("An organization key naming another organization (organization_forbidden)."),
    "404": error_doc("An admin key naming an organization that does not exist "
                     "(unknown_organization)."),
    "415": error_doc("Content type other than application/json."),
}
TAG = "outcomes"
PATHS: dict[str, Any] = {
    OUTCOMES_PATH: {"post": {
        "operationId": "send_outcomes",
        "summary": f"Send one business outcome or a batch of up to {MAX_OUTCOMES}",
        "description": "`{\"outcomes\": [...]}` or one outcome: outcome_id (UUID, the idempotency key), "
                       "viewer_hash (the client-side SHA-256, keyed on arrival and never stored), "
                       "name (slug), value and currency (ISO 4217, with value), occurred_at. "
                       "See docs/api.md (Outcomes).",
        "security": [{"apiKey": []}],
        "parameters": [_ORG_PARAM],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
            {"$ref": "#/components/schemas/Outcome"},
            {"type": "object", "required": ["outcomes"], "properties": {"outcomes": {
                "type": "array", "minItems": 1, "maxItems": MAX_OUTCOMES,
                "items": {"$ref": "#/components/schemas/Outcome"}}}}]}}}},
        "responses": {
            "202": _result("outcomes"),
            "400": error_doc("Malformed JSON, an empty or non-list batch, or a single outcome refused "
                             "(missing_field, invalid_field, time_out_of_range); `field` names it."),
            **_AUTH_ERRORS,
            "413": error_doc(f"Over {MAX_OUTCOMES} outcomes (too_many_outcomes) or a body over 512 KB."),
            "429": error_doc("Rate limited; retry after the Retry-After header's seconds."),
        },
    }},
    AUDIENCES_PATH: {"post": {
        "operationId": "add_to_audience",
        "summary": f"Add up to {MAX_AUDIENCE_HASHES} people to an audience",
        "description": "`{\"viewer_hashes\": [...]}`: client-side viewer hashes of people sent the video, "
                       "keyed on arrival and added to the named audience (idempotent). See docs/api.md.",
        "security": [{"apiKey": []}],
        "parameters": [{"name": "name", "in": "path", "required": True,
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"}},
                       _ORG_PARAM],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["viewer_hashes"], "properties": {"viewer_hashes": {
                "type": "array", "minItems": 1, "maxItems": MAX_AUDIENCE_HASHES,
                "items": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}}}}}}},
        "responses": {
            "202": _result("members"),
            "400": error_doc("Malformed JSON, a bad audience name (invalid_parameter), no viewer_hashes "
                             "(missing_field), an empty or non-list batch."),
            **_AUTH_ERRORS,
            "413": error_doc(f"Over {MAX_AUDIENCE_HASHES} hashes (too_many_hashes) or a body over 1 MB."),
            "429": error_doc("Rate limited; retry after the Retry-After header's seconds."),
        },
    }},
}
