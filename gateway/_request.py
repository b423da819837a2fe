"""Reading a raw ASGI request: credentials and body, shared by the routes and the middleware."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from starlette.types import Receive, Scope


class ClientDisconnected(Exception):
    """The client went away before sending its whole body: there is nobody to answer."""


MALFORMED_JSON = "the body is not valid JSON (UTF-8, nested at most a few hundred levels)"


def json_body(body: bytes) -> Any:
    """A request body's JSON; ValueError for anything else, including nesting deeper than the
    interpreter's stack (a 512 KB body can nest 260,000 levels; json.loads raises RecursionError)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def share_token(scope: Scope) -> str | None:
    authorization = next((value for name, value in scope["headers"] if name == b"authorization"), None)
    return share_token_from(None if authorization is None else authorization.decode("latin-1"),
                            scope.get("query_string", b""))


def share_token_from(authorization: str | None, query_string: bytes) -> str | None:
    """The token of `Authorization: Bearer …`, else of `?token=…` (browsers send it without a preflight)."""
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
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
