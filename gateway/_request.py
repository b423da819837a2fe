"""Reading a raw ASGI request: credentials and body, shared by the routes and the middleware."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus

from pydantic_core import from_json
from starlette.types import Receive, Scope


class ClientDisconnected(Exception):
    """The client went away before sending its whole body: there is nobody to answer."""


MALFORMED_JSON = "the body is not valid JSON (UTF-8, nested at most 200 levels)"


def json_body(body: bytes) -> Any:
    """A request body's JSON; ValueError for anything else.

    Parsed by pydantic-core (jiter), as the fast paths parse bodies, so a body is JSON or not the
    same way on every path: UTF-8 only (json.loads would take UTF-16 and UTF-32 too), and nesting
    stops at 200 levels (a 512 KB body can nest 260,000). A leading UTF-8 byte-order mark is ignored,
    as RFC 8259 allows. A lone surrogate escape becomes U+FFFD, as a browser's TextEncoder does:
    `JSON.stringify` writes one for a string cut inside an emoji, and it costs one character, not the
    batch (jiter refuses it, and a string holding one could not be serialised again on its way to the
    queue).
    """
    body = body.removeprefix(_UTF8_BOM)
    if b"\\ud" in body or b"\\uD" in body:
        body = _ESCAPE.sub(_without_lone_surrogate, body)
    return from_json(body)


_UTF8_BOM = b"\xef\xbb\xbf"
# Escapes scanned left to right, so `\\` is consumed whole and never mistaken for the start of one:
# a surrogate pair, a lone surrogate (group 1), or any other escape.
_ESCAPE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
                     rb"|(\\u[dD][89a-fA-F][0-9a-fA-F]{2})|\\.")


def _without_lone_surrogate(match: re.Match[bytes]) -> bytes:
    return b"\\ufffd" if match.group(1) else match.group(0)


def share_token(scope: Scope) -> str | None:
    authorization = next((value for name, value in scope["headers"] if name == b"authorization"), None)
    return share_token_from(None if authorization is None else authorization.decode("latin-1"),
                            scope.get("query_string", b""))


def bearer(authorization: str | None) -> str | None:
    """The credentials of an `Authorization: Bearer …` header (the scheme in any case), else None."""
    scheme, _, credentials = (authorization or "").partition(" ")
    return (credentials.strip() or None) if scheme.lower() == "bearer" else None


def share_token_from(authorization: str | None, query_string: bytes) -> str | None:
    """The token of `Authorization: Bearer …`, else of `?token=…` (browsers send it without a preflight)."""
    token = bearer(authorization)
    if token is not None:
        return token
    if b"token=" in query_string:
        for pair in query_string.decode("latin-1").split("&"):
            name, _, value = pair.partition("=")
            if name == "token" and value:
                return unquote_plus(value)
    return None


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
