"""Each organization's value policy for the ingest routes: read from the registry (the store) off the
event loop, then remembered for a while, so a request of a known organization pays a dict lookup."""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool

from pipeline.governance.registry import OrganizationRegistry
from pipeline.governance.value_policy import ValuePolicy

CACHE_SECONDS = 30.0  # a change made with `percus org set` holds for every gateway within this


class ValuePolicies:
    def __init__(self, registry: OrganizationRegistry, seconds: float = CACHE_SECONDS) -> None:
        self._registry = registry
        self._seconds = seconds
        self._cache: dict[str, tuple[float, ValuePolicy]] = {}  # organization: (expiry, policy)

    async def of(self, organization: str) -> ValuePolicy:
        hit = self._cache.get(organization)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        record = await run_in_threadpool(self._registry.get, organization)
        policy: ValuePolicy = record.value_policy if record is not None else "store"
        self._cache[organization] = (now + self._seconds, policy)
        return policy
