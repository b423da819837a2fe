"""Embed lookups for the Individeo compat script: a registered attachment code's player URL and a
fresh share token (the reporting side serves it; the ingest set does not)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.errors import ApiError
from gateway.openapi import error_doc
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
        }, headers={"Cache-Control": "private, max-age=300"})

    return [Route(EMBED_PATH, embed, methods=["GET"])]


PATHS: dict[str, Any] = {
    EMBED_PATH: {"get": {
        "summary": "Player URL and a share token for a registered Individeo attachment code",
        "parameters": [{"name": "attachment_code", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {"200": {"description": "player_url, share_token, organization_id, project_id, "
                                             "template_id"},
                      "404": error_doc("The attachment code is not registered.")},
    }},
}
