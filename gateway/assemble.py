"""One Starlette app from the route modules it serves (gateway/app.py and gateway/ingest_app.py name
the sets): the shared services, the limits, the one error shape."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from gateway.enqueuer import Enqueuer
from gateway.enrichment import device_from_user_agent
from gateway.errors import ApiError, api_error, http_exception, server_error
from gateway.middleware.body_limit import BodyLimitMiddleware, limit_for
from gateway.middleware.cors import CORSMiddleware
from gateway.middleware.hot_path import HotPath, Responder
from gateway.middleware.rate_limit import RateLimiter, RateLimitMiddleware, RateLimits
from gateway.recent_ids import RecentEventIds, RecentIds
from gateway.services import Services
from gateway.tokens import TokenVerifier
from pipeline.backends import open_store
from pipeline.config import Settings
from pipeline.governance.registry import OrganizationRegistry
from pipeline.governance.viewer_keys import ViewerKeys, load_viewer_keys
from pipeline.queue.base import Queue
from pipeline.store.base import Store

if TYPE_CHECKING:
    from gateway.instruments import Metrics
    from gateway.shared.buckets import SharedBuckets

_WARM_UP_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/1.0"


def services_for(settings: Settings, queue: Queue | None, *, store: Store | None = None,
                 viewer_keys: ViewerKeys | None = None, metrics: Metrics | None = None,
                 recent_ids: RecentEventIds | None = None, shared_buckets: SharedBuckets | None = None
                 ) -> Services:
    """`store` (default: the configured one) holds the organization registry; `viewer_keys` default to
    PERCUS_VIEWER_KEYS, else the data dir's generated key; no queue: an app that enqueues nothing; no
    `metrics`: an app that counts nothing (the Lambda functions'); `recent_ids` and the rate limits'
    buckets default to this process's own (the worker processes of `percus serve` share theirs:
    gateway/shared/)."""
    return Services(
        settings=settings,
        registry=OrganizationRegistry(store if store is not None else open_store(settings)),
        tokens=TokenVerifier(settings.token_keys),
        enqueuer=Enqueuer(queue) if queue is not None else None,
        recent_ids=recent_ids if recent_ids is not None else RecentIds(),
        # Generated into the data dir only on the embedded default's local store: a key made up beside
        # a shared bucket would key ids that no other process can look up.
        viewer_keys=viewer_keys or load_viewer_keys(
            os.environ, data_dir=settings.data_dir if settings.store.startswith("file://") else None),
        metrics=metrics,
        shared_buckets=shared_buckets,
    )


def assemble(services: Services, modules: Sequence[ModuleType], *, extra: Sequence[BaseRoute] = (),
             rate_limits: RateLimits | None = None) -> Starlette:
    """Each module exposes `routes(services) -> list[BaseRoute]`; `rate_limits` default to
    RateLimits.from_env(os.environ) (PERCUS_RATE_LIMIT_*), counted in the services' shared buckets if
    they have some."""
    routes = [route for module in modules for route in module.routes(services)] + list(extra)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Loads ua-parser's rules (~0.2 s of CPU) and builds the route modules' validators (`warm_up`)
        # before the first request, in an app that takes events: only events are enriched. The ingest
        # Lambda runs no lifespan (gateway/lambda_ingest.py): its first request builds what it needs.
        if services.enqueuer is not None:
            device_from_user_agent(_WARM_UP_AGENT)
            for module in modules:
                if hasattr(module, "warm_up"):
                    module.warm_up()
        _freeze_startup_heap()
        yield

    refused = _ingest_refusals(services.metrics, modules)
    limiter = RateLimiter(rate_limits or RateLimits.from_env(os.environ), shared=services.shared_buckets)
    # 512 KB, the API's documented limit, unless a module raises it for its paths
    path_limits = {prefix: limit for module in modules for prefix, limit in getattr(module, "BODY_LIMITS",
                                                                                   {}).items()}
    app = _Gateway(
        routes=routes,
        middleware=[
            Middleware(CORSMiddleware),  # outermost: refusals from the limits below carry CORS headers too
            Middleware(RateLimitMiddleware, limiter=limiter, refused=refused),
            Middleware(BodyLimitMiddleware, path_limits=path_limits, refused=refused),
        ],
        exception_handlers={ApiError: api_error, HTTPException: http_exception, Exception: server_error},
        lifespan=lifespan,
    )
    # POSTs to a plain endpoint that can be served in one pass (the ingest's): without the chain.
    app.hot_paths = {route.path: HotPath(route.endpoint, limiter, limit_for(route.path, path_limits), refused)
                     for route in routes if isinstance(route, Route) and route.methods == {"POST"}
                     and isinstance(route.endpoint, Responder)}
    return app


class _Gateway(Starlette):
    """The app, which serves its hot paths (gateway/middleware/hot_path.py) before its middleware chain."""

    hot_paths: dict[str, HotPath]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            hot = self.hot_paths.get(scope["path"])
            if hot is not None and await hot(scope, receive, send):
                return
        await super().__call__(scope, receive, send)


@cache  # once per process: the first app's start; a test process starts many
def _ingest_refusals(metrics: Metrics | None, modules: Sequence[ModuleType]
                     ) -> Callable[[Scope, str], None] | None:
    """What the limits call with each request they refuse: one refusal counted by its code when it
    was sent to an ingest path (a module's `INGEST_PATHS`), as the ingest routes count theirs."""
    if metrics is None:
        return None
    counted = metrics
    paths = frozenset(path for module in modules for path in getattr(module, "INGEST_PATHS", ()))

    def refused(scope: Scope, code: str) -> None:
        if scope["path"] in paths:
            counted.rejected(code)

    return refused


def _freeze_startup_heap() -> None:
    """Moves what is alive once the app is built (modules, pydantic's schemas, ua-parser's rules: about
    100,000 objects) out of the garbage collector's reach, as it lives as long as the process. A full
    collection under load then walks only what requests made: one held the GIL, so stalled every
    request, for about 60 ms of CPU, and now about 2 ms (single-event load, 2 busy cores). No
    gc.collect() first: it would cost about 40 ms of startup to free some 700 objects."""
    gc.freeze()
