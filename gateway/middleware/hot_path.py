"""POST to the ingest endpoint in one pass: what the middleware chain and Starlette's layers do for such
a request (CORS headers, the rate limits, the body limit, the 500 of an unexpected failure), done for it
directly, reading the request's headers once.

The chain stays the way in for everything else, and for a POST this pass does not expect: no
Content-Length (a chunked body), one over the body limit, a header it reads sent twice, a root path.
Those go through the chain whole, before anything is counted here, so they are answered as before.
The pass shares the chain's rate limiter (the same buckets) and its count of refusals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from starlette.types import Receive, Scope, Send

from gateway._request import share_token_from
from gateway.errors import SERVER_ERROR, RawResponse, raw_error, send_raw
from gateway.middleware.cors import CORS_HEADERS
from gateway.middleware.rate_limit import RateLimiter, rate_limited


@runtime_checkable
class Responder(Protocol):
    """An endpoint a hot path can serve: it reads the request headers named in HEADERS, and no other."""

    HEADERS: frozenset[bytes]

    async def respond(self, scope: Scope, receive: Receive, headers: dict[bytes, str]) -> RawResponse | None:
        """The answer to send (None: the client left); `headers` holds those of HEADERS the request
        sent, decoded as latin-1."""
        ...


class HotPath:
    def __init__(self, endpoint: Responder, limiter: RateLimiter, body_limit: int,
                 refused: Callable[[Scope, str], None] | None) -> None:
        self._endpoint = endpoint
        self._read = endpoint.HEADERS | {b"content-length", b"origin", b"authorization"}
        self._limiter = limiter
        self._body_limit = body_limit
        self._refused = refused  # told of each request refused here, with the error code (for metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answers a POST to the endpoint's path; False, having done nothing, for one the chain must."""
        headers: dict[bytes, str] = {}
        read = self._read
        try:
            for name, value in scope["headers"]:
                if name in read:
                    if name in headers:  # each part of the chain picks one of the two its own way
                        return False
                    headers[name] = value.decode("latin-1")
            length = headers.get(b"content-length", "")
            if not (length.isascii() and length.isdigit()) or int(length) > self._body_limit:
                return False
            client = scope.get("client")
            address = client[0] if client else ""
            limiter = self._limiter
            wait = 0.0 if address in limiter.exempt else limiter.wait(address, lambda: share_token_from(
                headers.get(b"authorization"), scope.get("query_string", b"")))
            if wait:
                if self._refused is not None:
                    self._refused(scope, "rate_limited")
                response: RawResponse | None = raw_error(rate_limited(wait))
            else:
                response = await self._endpoint.respond(scope, receive, headers)
        except Exception:
            # As Starlette's ServerErrorMiddleware, outside the CORS middleware: no CORS headers.
            await send_raw(send, raw_error(SERVER_ERROR))
            raise
        if response is not None:
            if b"origin" in headers:
                status, raw, body = response
                response = status, [*raw, *CORS_HEADERS], body
            await send_raw(send, response)
        return True
