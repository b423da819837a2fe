"""The gateway's apps, each built from the route modules it serves (gateway/assemble.py):

- API: the reporting side (reports, exports, outcomes and audiences in, viewer lookups, dashboard,
  SDK files, player, embed lookups, health) and the platform's integration events, for the API
  function;
- LOCAL: the ingest set (gateway/ingest_app.py), the API set, the demo and the Prometheus metrics
  (gateway/metrics.py), for `percus serve` and tests.

Adding an endpoint module means adding it to a set. The OpenAPI document describes every API path of
the product (both functions answer behind one HTTP API), whichever set serves it; pages are left out
(gateway/openapi.py).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette

from gateway import (
    dashboard,
    demo,
    exports_api,
    health,
    ingest,
    legacy,
    legacy_embeds,
    metrics,
    openapi,
    outcomes_api,
    platform_events,
    player,
    reports_api,
    sdk_files,
    viewers_api,
)
from gateway.assemble import assemble, services_for
from gateway.middleware.rate_limit import RateLimits
from pipeline.config import Settings
from pipeline.governance.viewer_keys import ViewerKeys
from pipeline.queue.base import Queue
from pipeline.store.base import Store

if TYPE_CHECKING:
    from gateway.instruments import Metrics
    from gateway.recent_ids import RecentEventIds
    from gateway.shared.buckets import SharedBuckets

API = (legacy_embeds, health, sdk_files, player, reports_api, exports_api, outcomes_api, viewers_api,
       platform_events, dashboard)
# In the order of the OpenAPI document.
LOCAL = (ingest, legacy, legacy_embeds, health, sdk_files, player, demo, reports_api, exports_api,
         outcomes_api, viewers_api, platform_events, dashboard, metrics)


@functools.cache
def _document() -> dict[str, Any]:
    return openapi.document(LOCAL)


def create_app(settings: Settings, queue: Queue, *, store: Store | None = None,
               rate_limits: RateLimits | None = None, viewer_keys: ViewerKeys | None = None,
               instruments: Metrics | None = None, recent_ids: RecentEventIds | None = None,
               shared_buckets: SharedBuckets | None = None) -> Starlette:
    """Everything in one app over `queue`, which the caller owns (opens and closes); `instruments`
    (default: new ones) are what its GET /metrics shows, with the queue's and the store's state.
    `recent_ids` and `shared_buckets` (default: the app's own) are the dedup memory and the rate
    limits' buckets (the POST limits' and the viewer lookups') that the worker processes of `percus
    serve` share (gateway/shared/)."""
    # Here, not at the top: the API function imports this module and never loads prometheus-client.
    from gateway.instruments import Metrics, ReportTimer

    instruments = instruments or Metrics()
    services = services_for(settings, queue, store=store, viewer_keys=viewer_keys, metrics=instruments,
                            recent_ids=recent_ids, shared_buckets=shared_buckets)
    instruments.watch(queue=queue, store=services.registry.store)
    app = assemble(services, LOCAL, extra=openapi.routes(_document()), rate_limits=rate_limits)
    app.add_middleware(ReportTimer, metrics=instruments)
    return app


def create_api_app(settings: Settings, *, store: Store | None = None, rate_limits: RateLimits | None = None,
                   viewer_keys: ViewerKeys | None = None) -> Starlette:
    """The reporting side: it reads the store and queries, and enqueues nothing."""
    services = services_for(settings, None, store=store, viewer_keys=viewer_keys)
    return assemble(services, API, extra=openapi.routes(_document()), rate_limits=rate_limits)
