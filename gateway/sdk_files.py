"""GET /sdk/<name>: the browser bundles of js/dist and their TypeScript declarations (percus.d.ts),
with ETag, Cache-Control and gzip.

A versioned URL (`?v=` equal to the bundle's current version, as the bootstrap loads the tracking
module) never changes content, so browsers and CDNs may keep it a year. The unversioned URL pages
paste into their HTML is cached briefly and then revalidated with its ETag, so a new build
reaches every page within minutes.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.errors import ApiError, error_doc
from gateway.services import Services
from js.dist import DIST, version_of

PATH = "/sdk/{name}"
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"


# What js/dist holds that is served, by suffix.
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".d.ts": "application/typescript; charset=utf-8"}


@dataclass(frozen=True)
class Bundle:
    version: str
    identity: bytes
    gzipped: bytes
    media_type: str

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    @property
    def gzip_etag(self) -> str:
        return f'"{self.version}-gzip"'  # another representation: another strong validator


def load_bundles(directory: Path = DIST) -> dict[str, Bundle]:
    """Every bundle and declaration file of `directory`, read and compressed once."""
    bundles = {}
    for suffix, media_type in MEDIA_TYPES.items():
        for path in sorted(directory.glob(f"*{suffix}")):
            content = path.read_bytes()
            bundles[path.name] = Bundle(version_of(content), content, gzip.compress(content, 9, mtime=0),
                                        media_type)
    return bundles


def _accepts_gzip(header: str) -> bool:
    for part in header.lower().split(","):
        coding, _, params = part.partition(";")
        if coding.strip() in ("gzip", "*"):
            name, _, quality = params.partition("=")
            return not (name.strip() == "q" and _is_zero(quality))
    return False


def _is_zero(quality: str) -> bool:
    try:
        return float(quality) == 0
    except ValueError:
        return False


def _matches(if_none_match: str, bundle: Bundle) -> bool:
    if if_none_match.strip() == "*":
        return True
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return bool(tags & {bundle.etag, bundle.gzip_etag})


def routes(services: Services, directory: Path = DIST) -> list[BaseRoute]:
    bundles = load_bundles(directory)

    async def sdk_file(request: Request) -> Response:
        bundle = bundles.get(request.path_params["name"])
        if bundle is None:
            raise ApiError(404, "not_found", f"no SDK file {request.path_params['name']!r}; "
                           f"available: {', '.join(bundles)}")
        compressed = _accepts_gzip(request.headers.get("accept-encoding", ""))
        headers = {
            "ETag": bundle.gzip_etag if compressed else bundle.etag,
            "Cache-Control": IMMUTABLE if request.query_params.get("v") == bundle.version else SHORT,
            "Vary": "Accept-Encoding",
        }
        if _matches(request.headers.get("if-none-match", ""), bundle):
            return Response(status_code=304, headers=headers)
        if compressed:
            headers["Content-Encoding"] = "gzip"
        return Response(bundle.gzipped if compressed else bundle.identity, headers=headers,
                        media_type=bundle.media_type)

    return [Route(PATH, sdk_file, methods=["GET", "HEAD"])]


TAG = "sdk"
PATHS: dict[str, Any] = {
    PATH: {"get": {
        "operationId": "get_sdk_file",
        "summary": "A browser SDK bundle (percus-embed-sdk.js, percus-tracking.js, …) or percus.d.ts",
        "description": "With `?v=<version>` (the bundle's current version) the answer is cacheable for a "
                       "year (immutable); without it for 5 minutes, then revalidated with If-None-Match. "
                       "Gzip when the client accepts it.",
        "parameters": [
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
             "example": "percus-embed-sdk.js"},
            {"name": "v", "in": "query", "required": False, "schema": {"type": "string"}},
        ],
        "responses": {
            "200": {"description": "The script, or the TypeScript declarations",
                    "content": {"text/javascript": {"schema": {"type": "string"}},
                                "application/typescript": {"schema": {"type": "string"}}}},
            "304": {"description": "Not modified (If-None-Match)"},
            "404": error_doc("No such bundle"),
        },
    }},
}
