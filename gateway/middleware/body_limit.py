"""Refuse request bodies over a size limit (413) without reading or buffering past it; a route module
may raise the limit for its own paths (`BODY_LIMITS`, gathered by gateway/assemble.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import ApiError, send_error

DEFAULT_LIMIT = 512 * 1024


def limit_for(path: str, path_limits: Mapping[str, int], default: int = DEFAULT_LIMIT) -> int:
    """The body limit of `path`: its prefix's in `path_limits`, else `default`."""
    return next((limit for prefix, limit in path_limits.items() if path.startswith(prefix)), default)


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: int = DEFAULT_LIMIT, path_limits: Mapping[str, int] | None = None,
                 refused: Callable[[Scope, str], None] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.path_limits = dict(path_limits or {})  # path prefix -> its own limit
        self.refused = refused  # told of each request refused here, with the error code (for metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit():
                if int(value) > limit:
                    await self._refuse(scope, send, limit)
                else:
                    # The server delivers exactly Content-Length bytes: nothing to watch.
                    await self.app(scope, receive, send)
                return
        await self._streamed(scope, receive, send, limit)

    def _limit(self, path: str) -> int:
        return limit_for(path, self.path_limits, self.limit)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """A chunked body: count as it arrives and stop at the limit."""
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await self._refuse(scope, send, limit)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        if self.refused is not None:
            self.refused(scope, "body_too_large")
        # Closing the connection spares the server from draining the rest of the body.
        await send_error(send, ApiError(413, "body_too_large", f"the request body exceeds {limit} bytes",
                                        headers={"Connection": "close"}))
