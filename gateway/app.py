"""The gateway's Starlette app: route modules assembled behind CORS, rate and body-size limits.

A route module exposes `routes(services) -> list[BaseRoute]` and `PATHS` (its OpenAPI path items);
adding an endpoint module means adding it to ROUTE_MODULES.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from gateway import (
    dashboard,
    demo,
    exports_api,
    health,
    ingest,
    legacy,
    openapi,
    player,
    reports_api,
    sdk_files,
)
from gateway.enqueuer import Enqueuer
from gateway.enrichment import device_from_user_agent
from gateway.errors import ApiError, api_error, http_exception, server_error
from gateway.middleware.body_limit import BodyLimitMiddleware
from gateway.middleware.cors import CORSMiddleware
from gateway.middleware.rate_limit import RateLimitMiddleware, RateLimits
from gateway.recent_ids import RecentIds
from gateway.services import Services
from gateway.tokens import TokenVerifier
from pipeline.backends import open_store
from pipeline.config import Settings
from pipeline.organizations import OrganizationRegistry
from pipeline.queue.base import Queue
from pipeline.store.base import Store
from pipeline.viewer_keys import ViewerKeys, load_viewer_keys

ROUTE_MODULES = (ingest, legacy, health, sdk_files, player, demo, reports_api, exports_api, dashboard)

_WARM_UP_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/1.0"


def create_app(settings: Settings, queue: Queue, *, store: Store | None = None,
               rate_limits: RateLimits | None = None, viewer_keys: ViewerKeys | None = None) -> Starlette:
    """The gateway over `queue`, which the caller owns (opens and closes).

    `store` (default: the configured one) holds the organization registry; `rate_limits` defaults to
    RateLimits.from_env(os.environ) (PERCUS_RATE_LIMIT_*); `viewer_keys` to PERCUS_VIEWER_KEYS, else
    the data dir's generated key.
    """
    services = Services(
        settings=settings,
        registry=OrganizationRegistry(store if store is not None else open_store(settings)),
        tokens=TokenVerifier(settings.token_keys),
        enqueuer=Enqueuer(queue),
        recent_ids=RecentIds(),
        # Generated into the data dir only on the embedded default's local store: a key made up beside
        # a shared bucket would key ids that no other process can look up.
        viewer_keys=viewer_keys or load_viewer_keys(
            os.environ, data_dir=settings.data_dir if settings.store.startswith("file://") else None),
    )
    routes = [route for module in ROUTE_MODULES for route in module.routes(services)]
    paths = {path: item for module in ROUTE_MODULES for path, item in module.PATHS.items()}
    routes += openapi.routes(openapi.document(paths))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        device_from_user_agent(_WARM_UP_AGENT)  # loads ua-parser's rules (~0.2 s) before the first request
        yield

    return Starlette(
        routes=routes,
        middleware=[
            Middleware(CORSMiddleware),  # outermost: refusals from the limits below carry CORS headers too
            Middleware(RateLimitMiddleware, limits=rate_limits or RateLimits.from_env(os.environ)),
            Middleware(BodyLimitMiddleware),  # 512 KB, the API's documented limit
        ],
        exception_handlers={ApiError: api_error, HTTPException: http_exception, Exception: server_error},
        lifespan=lifespan,
    )
