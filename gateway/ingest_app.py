"""The ingest set: canonical events, the legacy `indiTrack` endpoint and health, as the ingest
function serves them. Imports nothing of the reporting side, so its cold start stays small."""

from __future__ import annotations

from starlette.applications import Starlette

from gateway import health, ingest, legacy
from gateway.assemble import assemble, services_for
from gateway.middleware.rate_limit import RateLimits
from pipeline.config import Settings
from pipeline.governance.viewer_keys import ViewerKeys
from pipeline.queue.base import Queue
from pipeline.store.base import Store

INGEST = (ingest, legacy, health)


def create_ingest_app(settings: Settings, queue: Queue, *, store: Store | None = None,
                      rate_limits: RateLimits | None = None,
                      viewer_keys: ViewerKeys | None = None) -> Starlette:
    services = services_for(settings, queue, store=store, viewer_keys=viewer_keys)
    return assemble(services, INGEST, rate_limits=rate_limits)
