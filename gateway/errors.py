"""The one shape of every HTTP error: {"error": {"code", "message", "field"?}}."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send

_CODES = {404: "not_found", 405: "method_not_allowed"}


def error_body(code: str, message: str, field: str | None = None) -> bytes:
    error = {"code": code, "message": message}
    if field:
        error["field"] = field
    return json.dumps({"error": error}, separators=(",", ":")).encode()


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: Mapping[str, str] | None = None) -> Response:
    return Response(error_body(code, message, field), status, headers, media_type="application/json")


async def send_error(send: Send, status: int, code: str, message: str,
                     headers: Mapping[str, str] | None = None) -> None:
    """Answer from plain ASGI middleware, before any route has run."""
    body = error_body(code, message)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    # The exception text may quote request data: it goes to the server log, never to the client.
    return error_response(500, "internal_error", "the server failed; retrying later may succeed")
