"""CORS for a public browser endpoint: any page may send, nobody sends credentials.

Responses carry `Access-Control-Allow-Origin: *`, so they are cacheable without `Vary: Origin`;
a token restricted to some origins is enforced by the route (403), not by the browser.

Not Starlette's CORSMiddleware, which with the same policy (origins `*`, no credentials) would answer a
preflight `200 OK` (docs/api.md says 204), a `400` to one asking for another method or header or for
private-network access (this one states the fixed policy and lets the browser decide), add
`Vary: Origin` to every response, same-origin and SDK bundles included (needless with `*`, and it splits
caches by site), and cost about 10 µs per cross-origin POST against 3 µs here (a bare ASGI app: 1 µs;
timed with a no-op app in-process on this 2-core machine).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# What every response to a request with an Origin carries (the ingest's hot path adds them too).
CORS_HEADERS = ((b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", b"Retry-After"))
PREFLIGHT_MAX_AGE = 86400  # browsers cap it lower (Chromium: 2 h), which is still one preflight per page


class CORSMiddleware:
    def __init__(self, app: ASGIApp, max_age: int = PREFLIGHT_MAX_AGE) -> None:
        self.app = app
        self._preflight = [
            (b"access-control-allow-origin", b"*"),
            (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
            (b"access-control-allow-headers", b"Authorization, Content-Type"),
            (b"access-control-max-age", str(max_age).encode()),
            (b"content-length", b"0"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        names = [name for name, _ in scope["headers"]]
        if b"origin" not in names:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in names:
            await send({"type": "http.response.start", "status": 204, "headers": self._preflight})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *CORS_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_cors)
