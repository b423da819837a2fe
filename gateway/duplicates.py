"""Event ids enqueued recently, so a client's retry is answered as a duplicate and not enqueued twice.

Best effort and per process: the compactor removes whatever duplicates get past this.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from uuid import UUID


class RecentIds:
    """Event ids per organization, remembered for between `ttl_seconds / 2` and `ttl_seconds`.

    Two generations of plain sets: new ids go into the current one; when it is half the TTL old or
    holds half the capacity, the previous generation is dropped and the current one takes its place.
    Membership and insertion stay single set operations, and at most `capacity` ids (about 150 bytes
    each) are held. Ids are keyed by organization, so one organization's ids never mark another's.
    """

    def __init__(self, capacity: int = 1_000_000, ttl_seconds: float = 15 * 60,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._generation_size = max(1, capacity // 2)
        self._generation_seconds = ttl_seconds / 2
        self._clock = clock
        self._current: set[tuple[str, int]] = set()
        self._previous: set[tuple[str, int]] = set()
        self._started = clock()

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def __contains__(self, key: tuple[str, UUID]) -> bool:
        organization, event_id = key
        self._rotate()
        entry = (organization, event_id.int)
        return entry in self._current or entry in self._previous

    def add(self, organization: str, event_ids: Iterable[UUID]) -> None:
        for event_id in event_ids:
            self._rotate()
            self._current.add((organization, event_id.int))

    def _rotate(self) -> None:
        now = self._clock()
        if now - self._started >= self._generation_seconds or len(self._current) >= self._generation_size:
            # Two generations idle for a whole TTL are both stale.
            stale = now - self._started >= 2 * self._generation_seconds
            self._previous = set() if stale else self._current
            self._current = set()
            self._started = now
