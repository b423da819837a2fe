"""The one error type, ApiError, answered in the one shape {"error": {"code", "message", "field"?}}:
routes raise it for the app's handler; plain ASGI code (the middleware, ingest) sends it with send_error."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send

_CODES = {404: "not_found", 405: "method_not_allowed"}
_BEARER = {"WWW-Authenticate": "Bearer"}


class ApiError(Exception):
    """An error answer; a 401 asks for a bearer credential unless `headers` says otherwise."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = _BEARER if headers is None and status == 401 else headers

    def body(self) -> bytes:
        error = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return json.dumps({"error": error}, separators=(",", ":")).encode()

    def response(self) -> Response:
        return Response(self.body(), self.status, self.headers, media_type="application/json")


RawResponse = tuple[int, list[tuple[bytes, bytes]], bytes]  # status, headers as ASGI sends them, body


def raw_error(error: ApiError) -> RawResponse:
    """An error answer as plain ASGI code sends it."""
    body = error.body()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(name.lower().encode(), value.encode()) for name, value in (error.headers or {}).items()]
    return error.status, raw, body


async def send_error(send: Send, error: ApiError) -> None:
    """Answer from plain ASGI code: the middleware (before any route has run) and the ingest hot path."""
    await send_raw(send, raw_error(error))


async def send_raw(send: Send, response: RawResponse) -> None:
    status, headers, body = response
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _CODES.get(exc.status_code, "http_error")
    return ApiError(exc.status_code, code, str(exc.detail), headers=exc.headers).response()


async def server_error(request: Request, exc: Exception) -> Response:
    # The exception text may quote request data: it goes to the server log, never to the client.
    return SERVER_ERROR.response()


SERVER_ERROR = ApiError(500, "internal_error", "the server failed; retrying later may succeed")


def error_doc(description: str) -> dict[str, Any]:
    """A documented error answer in the OpenAPI document (gateway/openapi.py): an ApiError's body.
    Here, not there, so the ingest routes document their refusals without loading the schemas."""
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
