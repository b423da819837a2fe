"""The reference player: GET /player (the page the SDK puts in its iframe) and its media fixture.

The page verifies the share token itself, so it can hand the SDK the organization and that
organization's salt with its ready message (the SDK hashes the recipient code with them). The
salt is the one stored with the organization's settings; an organization that has none yet (a
token issued before `percus org create`) gets a salt derived from the signing key, stable for as
long as that key signs. The protocol is in docs/player-protocol.md.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.services import Services
from gateway.tokens import TokenError
from pipeline.config import Settings

PLAYER_DIR = Path(__file__).resolve().parents[1] / "js" / "player"
PATH = "/player"
MEDIA_PATH = "/player/clip.webm"


@dataclass(frozen=True)
class Template:
    """A personalized-video template as the player shows it."""

    template_id: str
    template_version: str
    title: str
    chapters: tuple[dict[str, Any], ...]
    ctas: tuple[dict[str, Any], ...]
    interaction: dict[str, Any]


# The one template the reference player plays: the 4-second clip, two chapters, two CTAs (one a
# service CTA) and a one-question survey.
WELCOME = Template(
    template_id="welcome",
    template_version="1",
    title="Welcome to Percus",
    chapters=({"chapter_id": "intro", "chapter_name": "Welcome", "start_ms": 0},
              {"chapter_id": "plan", "chapter_name": "Your plan", "start_ms": 2000}),
    ctas=({"cta_id": "advisor", "cta_name": "Talk to an advisor", "cta_value": "advisor"},
          {"cta_id": "simulate", "cta_name": "Simulate my pension", "cta_value": "simulator",
           "service": True}),
    interaction={"interaction_id": "helpful", "interaction_name": "Was this video helpful?",
                 "choices": ("yes", "no")},
)
TEMPLATES = {WELCOME.template_id: WELCOME}


def derived_salt(settings: Settings, organization_id: str) -> str:
    """A per-organization salt for organizations without a stored one: HMAC of the signing key."""
    key = settings.token_keys.current[1]
    return hmac.new(key, b"percus-org-salt:" + organization_id.encode(), hashlib.sha256).hexdigest()[:32]


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(PLAYER_DIR), autoescape=True,
                              undefined=jinja2.StrictUndefined)


def routes(services: Services) -> list[BaseRoute]:
    page = _environment().get_template("player.html")

    def salt_and_policy(organization_id: str) -> tuple[str, str]:
        record = services.registry.get(organization_id)
        if record is None:
            return derived_salt(services.settings, organization_id), "store"
        return record.salt, record.value_policy

    async def player(request: Request) -> Response:
        query = request.query_params
        template_id = query.get("template") or WELCOME.template_id
        template = TEMPLATES.get(template_id)
        # The page's configuration, and what its ready message hands the SDK.
        context: dict[str, Any] = {"organization_id": None, "org_salt": None, "value_policy": None,
                                   "origins": None,
                                   "autoplay": query.get("autoplay") == "1", "error": None,
                                   "template_id": template_id, "template_version": None, "title": "Video",
                                   "chapters": []}
        try:
            share = services.tokens.verify(query.get("token"))
        except TokenError as exc:
            context["error"] = {"error_code": exc.code, "error_message": exc.message}
        else:
            # The registry reads the store (a file, or S3 on AWS): off the event loop.
            salt, policy = await run_in_threadpool(salt_and_policy, share.organization_id)
            context.update(organization_id=share.organization_id, org_salt=salt, value_policy=policy,
                           origins=list(share.origins) if share.origins is not None else None)
        if template is None:
            context["error"] = context["error"] or {
                "error_code": "template_not_found",
                "error_message": "this video is not available (unknown template)"}
        else:
            context.update(template_version=template.template_version, title=template.title,
                           chapters=list(template.chapters))
        html = page.render(config=context, title=context["title"], error=context["error"],
                           locale=query.get("locale") or "en", media_url=MEDIA_PATH,
                           ctas=template.ctas if template else (),
                           interaction=template.interaction if template else {})
        # The page carries the organization's salt: it must not be kept by shared caches.
        return HTMLResponse(html, headers={"Cache-Control": "private, no-store"})

    async def media(request: Request) -> Response:
        return FileResponse(PLAYER_DIR / "clip.webm", media_type="video/webm",
                            headers={"Cache-Control": "public, max-age=86400"})

    return [Route(PATH, player, methods=["GET", "HEAD"]), Route(MEDIA_PATH, media, methods=["GET", "HEAD"])]


_HTML = {"text/html": {"schema": {"type": "string"}}}

TAG = None  # a page and its clip: not in the API document
PATHS: dict[str, Any] = {
    PATH: {"get": {
        "operationId": "get_player",
        "summary": "The reference player page (put in an iframe by percus-embed-sdk.js)",
        "description": "Speaks the postMessage protocol of docs/player-protocol.md. A bad or expired token "
                       "or an unknown template gives a page that reports video.errored.",
        "parameters": [
            {"name": "token", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "The embed's share token; without a valid one the page reports video.errored."},
            {"name": "template", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "locale", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "autoplay", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "`1` starts playback muted; any other value, or none, waits for the viewer."},
        ],
        "responses": {"200": {"description": "The player page", "content": _HTML}},
    }},
    MEDIA_PATH: {"get": {
        "operationId": "get_player_clip",
        "summary": "The reference player's media fixture (a 4-second WebM)",
        "responses": {"200": {"description": "The clip", "content": {"video/webm": {"schema": {
            "type": "string", "format": "binary"}}}}},
    }},
}
