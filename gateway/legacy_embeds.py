"""Embed lookups for the Individeo compat script: a registered attachment code's player URL, a fresh
share token and the operator's tracking and consent defaults (the reporting side serves it; the
ingest set does not)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.errors import ApiError, error_doc
from gateway.player import PATH as PLAYER_PATH
from gateway.services import Services
from gateway.tokens import issue_token

EMBED_PATH = "/analytics/v1/legacy/embeds/{attachment_code}"
EMBED_TOKEN_TTL = 24 * 3600  # the compat script asks again on every page load


def routes(services: Services) -> list[BaseRoute]:
    registry = services.registry

    async def embed(request: Request) -> Response:
        code = request.path_params["attachment_code"]
        attachment = await run_in_threadpool(registry.attachment, code) if len(code) <= 256 else None
        if attachment is None:
            raise ApiError(404, "unknown_attachment", "this Individeo attachment code is not registered: "
                           "`percus legacy register` makes it resolvable")
        token = issue_token(services.settings.token_keys, attachment.organization_id,
                            attachment.project_id, ttl=EMBED_TOKEN_TTL)
        return JSONResponse({
            "attachment_code": attachment.attachment_code,
            "organization_id": attachment.organization_id,
            "project_id": attachment.project_id,
            "template_id": attachment.template_id,
            "player_url": f"{request.base_url}{PLAYER_PATH.lstrip('/')}",
            "share_token": token,
            "tracking": attachment.tracking,
            "consent_required": attachment.consent_required,
        }, headers={"Cache-Control": "private, max-age=300"})

    return [Route(EMBED_PATH, embed, methods=["GET"])]


TAG = "legacy"
PATHS: dict[str, Any] = {
    EMBED_PATH: {"get": {
        "operationId": "get_legacy_embed",
        "summary": "Player URL and a share token for a registered Individeo attachment code",
        "description": "`tracking` and `consent_required` are the attachment's defaults "
                       "(`percus legacy register --tracking --no-consent-required`; by default false and "
                       "true): the compat script applies each to a page that writes no attribute for it "
                       "(`enable-tracking`, `enable-smart-tracking`, `embed-smart-tracking`; "
                       "`consent-required`). An attribute on the page always wins.",
        "parameters": [{"name": "attachment_code", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {"200": {"description": "player_url, share_token, organization_id, project_id, "
                                             "template_id, tracking, consent_required"},
                      "404": error_doc("The attachment code is not registered.")},
    }},
}
