"""What the route modules share, built once per app (gateway/assemble.py)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from gateway.enqueuer import Enqueuer
from gateway.recent_ids import RecentEventIds
from gateway.tokens import TokenVerifier
from gateway.value_policies import ValuePolicies
from pipeline.config import Settings
from pipeline.governance.registry import OrganizationRegistry
from pipeline.governance.viewer_keys import ViewerKeys

if TYPE_CHECKING:
    from gateway.instruments import Metrics
    from gateway.shared.buckets import SharedBuckets
    from pipeline.query import QueryEngine


@dataclass(frozen=True)
class Services:
    settings: Settings
    registry: OrganizationRegistry  # reads the store: call it from a worker thread
    tokens: TokenVerifier
    enqueuer: Enqueuer | None  # None in an app that serves no ingest (the API function has no queue)
    recent_ids: RecentEventIds
    viewer_keys: ViewerKeys  # the stored viewer_hash is keyed with these (docs/privacy.md)
    metrics: Metrics | None = None  # GET /metrics: the local app's alone (gateway/metrics.py)
    # The rate limits' buckets of every worker process of `percus serve`; None: each limit its own.
    shared_buckets: SharedBuckets | None = None

    def require_enqueuer(self) -> Enqueuer:
        if self.enqueuer is None:
            raise ValueError("the ingest routes need a queue: build their app with one")
        return self.enqueuer

    def require_metrics(self) -> Metrics:
        if self.metrics is None:
            raise ValueError("GET /metrics needs the app's Metrics: build its app with them")
        return self.metrics

    @cached_property
    def value_policies(self) -> ValuePolicies:
        """One cache for the ingest and legacy routes of the app."""
        return ValuePolicies(self.registry)

    @cached_property
    def engine(self) -> QueryEngine:
        """The reports' query engine over the registry's store, opened on first use: the ingest path
        never needs it (nor the import of sqlglot). Blocking: use it from a worker thread."""
        from pipeline.query import open_engine

        return open_engine(self.settings, self.registry.store)
