"""GET /demo: a host page embedding the reference player, so a newcomer sees the whole loop work.

Each visit gets a fresh demo share token; the events land under the demo organization, where the
reports and the dashboard pick them up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.services import Services
from gateway.tokens import issue_token
from js.dist import DIST, version_of

DEMO_DIR = Path(__file__).resolve().parents[1] / "js" / "demo"
PATH = "/demo"
DEMO_ORG = "demo"
DEMO_PROJECT = "welcome"
DEMO_RECIPIENT = "demo-viewer"  # hashed in the browser like any recipient code; never sent
TOKEN_TTL = 86400
SDK = "percus-embed-sdk.js"


def routes(services: Services) -> list[BaseRoute]:
    page = jinja2.Environment(loader=jinja2.FileSystemLoader(DEMO_DIR), autoescape=True,
                              undefined=jinja2.StrictUndefined).get_template("demo.html")
    # Read once, as gateway.sdk_files does: the versioned URL names the bundle the gateway serves.
    sdk_url = f"/sdk/{SDK}?v={version_of((DIST / SDK).read_bytes())}"

    async def demo(request: Request) -> Response:
        token = issue_token(services.settings.token_keys, DEMO_ORG, DEMO_PROJECT, ttl=TOKEN_TTL)
        html = page.render(sdk_url=sdk_url, token=token, organization=DEMO_ORG,
                           project=DEMO_PROJECT, recipient_code=DEMO_RECIPIENT)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    return [Route(PATH, demo, methods=["GET", "HEAD"])]


TAG = None  # a page: not in the API document
PATHS: dict[str, Any] = {
    PATH: {"get": {
        "operationId": "get_demo",
        "summary": "A demo host page with the reference player (consent banner, live event log)",
        "responses": {"200": {"description": "The demo page",
                              "content": {"text/html": {"schema": {"type": "string"}}}}},
    }},
}
