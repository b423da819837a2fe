"""A request the reporting routes refuse, raised deep in a check and answered in the one error shape."""

from __future__ import annotations

from starlette.responses import Response

from gateway.errors import error_response


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def response(self) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return error_response(self.status, self.code, self.message, self.field, headers)
