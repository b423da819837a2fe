"""Token-bucket rate limits on POST requests, per client address and per share token (429 + Retry-After).

Buckets are keyed by a salted hash made fresh at every start: neither the address nor the token is
kept in a form that could be logged or correlated later. They live in this process, or, given shared
ones (gateway/shared/buckets.py), in a file every worker process of `percus serve` maps.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway._request import share_token
from gateway.errors import ApiError, send_error

if TYPE_CHECKING:
    from gateway.shared.buckets import SharedBuckets


@dataclass(frozen=True)
class Limit:
    rate: float  # requests per second, refilled continuously
    burst: float  # bucket size: requests allowed at once after a quiet spell

    @classmethod
    def parse(cls, text: str) -> Limit | None:
        """ "RATE:BURST" such as "200:1000", or "off"."""
        if text.strip().lower() in ("off", "0", ""):
            return None
        rate, _, burst = text.partition(":")
        limit = cls(float(rate), float(burst or rate))
        if limit.rate <= 0 or limit.burst < 1:
            raise ValueError(f"rate limit {text!r} must be RATE:BURST with RATE > 0 and BURST >= 1, or off")
        return limit


@dataclass(frozen=True)
class RateLimits:
    # A campaign shares one token among all its viewers, and a company NAT many viewers behind one
    # address: both defaults are generous and stop floods, not audiences.
    per_address: Limit | None = Limit(200, 1000)
    per_token: Limit | None = Limit(5000, 50_000)
    # Loopback is the machine itself: a local proxy (run uvicorn with --proxy-headers so the real
    # client address is seen) or a benchmark.
    exempt: frozenset[str] = field(default_factory=lambda: frozenset({"127.0.0.1", "::1"}))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RateLimits:
        default = cls()
        address = env.get("PERCUS_RATE_LIMIT_PER_ADDRESS")
        token = env.get("PERCUS_RATE_LIMIT_PER_TOKEN")
        exempt = env.get("PERCUS_RATE_LIMIT_EXEMPT")
        return cls(
            per_address=default.per_address if address is None else Limit.parse(address),
            per_token=default.per_token if token is None else Limit.parse(token),
            exempt=default.exempt if exempt is None else frozenset(
                part.strip() for part in exempt.split(",") if part.strip()),
        )


class TokenBuckets(Protocol):
    def take(self, key: bytes, now: float) -> float:
        """0 when a request may pass, else the seconds until it would."""
        ...


class Buckets:
    """Token buckets by key, the least recently used forgotten beyond `capacity`."""

    def __init__(self, limit: Limit, capacity: int) -> None:
        self._limit = limit
        self._capacity = capacity
        self._state: OrderedDict[bytes, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def take(self, key: bytes, now: float) -> float:
        """0 when a request may pass, else the seconds until it would."""
        limit = self._limit
        tokens, at = self._state.pop(key, (limit.burst, now))
        tokens = min(limit.burst, tokens + (now - at) * limit.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / limit.rate
        self._state[key] = (tokens, now)  # most recently used last; a forgotten bucket starts full
        if len(self._state) > self._capacity:
            self._state.popitem(last=False)
        return wait


class RateLimiter:
    """The limits and their buckets: what RateLimitMiddleware asks about each POST, and the ingest's
    hot path (gateway/middleware/hot_path.py) too, so both count in the same buckets."""

    def __init__(self, limits: RateLimits | None = None, capacity: int = 100_000,
                 clock: Callable[[], float] = time.monotonic, shared: SharedBuckets | None = None) -> None:
        """`shared`: the buckets of every worker process (with the capacity they were made with), instead
        of this process's own."""
        self.limits = limits or RateLimits()
        self.exempt = self.limits.exempt
        self._clock = clock
        self._shared = shared
        # Keyed once: a copy per key costs half a keyed hash made anew.
        self._hash = hashlib.blake2b(key=secrets.token_bytes(16) if shared is None else shared.salt,
                                     digest_size=16)
        self._token_keys: dict[str, bytes] = {}
        self._address = None if self.limits.per_address is None or shared is not None else Buckets(
            self.limits.per_address, capacity)
        self._token = None if self.limits.per_token is None or shared is not None else Buckets(
            self.limits.per_token, capacity)

    def wait(self, address: str, token: Callable[[], str | None]) -> float:
        """0 when a POST from `address` (not exempt) with the share token `token()` may pass, else the
        seconds until it would. The token is looked for only when its limit is asked."""
        now = self._clock()
        if self._shared is not None:  # both buckets under one lock of the shared table
            per_address, per_token = self.limits.per_address, self.limits.per_token
            takes = []
            if per_address is not None:
                takes.append((per_address, self._key(b"a", address)))
            sent = token() if per_token is not None else None
            if per_token is not None and sent:
                takes.append((per_token, self._token_key(sent)))
            return self._shared.take_in_turn(takes, now) if takes else 0.0
        wait = 0.0
        if self._address is not None:
            wait = self._address.take(self._key(b"a", address), now)
        if wait or self._token is None:
            return wait
        sent = token()
        return self._token.take(self._token_key(sent), now) if sent else 0.0

    def _token_key(self, token: str) -> bytes:
        """A token's key, remembered: a campaign's viewers send one token. (The token verifier keeps
        the tokens themselves; client addresses are never kept, only hashed.)"""
        key = self._token_keys.get(token)
        if key is None:
            if len(self._token_keys) >= 4096:
                self._token_keys.clear()
            key = self._token_keys[token] = self._key(b"t", token)
        return key

    def _key(self, kind: bytes, value: str) -> bytes:
        hashed = self._hash.copy()
        hashed.update(kind + value.encode())
        return hashed.digest()


def rate_limited(wait: float) -> ApiError:
    return ApiError(429, "rate_limited", "too many requests; retry after Retry-After seconds",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))})


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: RateLimits | None = None, capacity: int = 100_000,
                 clock: Callable[[], float] = time.monotonic,
                 refused: Callable[[Scope, str], None] | None = None, shared: SharedBuckets | None = None,
                 limiter: RateLimiter | None = None) -> None:
        """`shared`: the buckets of every worker process (with the capacity they were made with), instead
        of this process's own; `limiter`: limits and buckets made already (the others are then unused)."""
        self.app = app
        self.refused = refused  # told of each request refused here, with the error code (for metrics)
        self.limiter = limiter or RateLimiter(limits, capacity, clock, shared)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else ""
        if address in self.limiter.exempt:
            await self.app(scope, receive, send)
            return
        wait = self.limiter.wait(address, lambda: share_token(scope))
        if wait:
            if self.refused is not None:
                self.refused(scope, "rate_limited")
            await send_error(send, rate_limited(wait))
            return
        await self.app(scope, receive, send)
