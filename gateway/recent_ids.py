"""Event ids enqueued recently, so a client's retry is answered as a duplicate and not enqueued twice.

Best effort: the compactor removes whatever duplicates get past this. RecentIds holds them in this
process; the worker processes of `percus serve` share theirs (gateway/shared/recent_ids.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from typing import Protocol


class RecentEventIds(Protocol):
    """What the routes ask of recent ids, however they are held."""

    def among(self, organization: str, event_ids: Iterable[int]) -> set[int]: ...

    def claim(self, organization: str, event_ids: Iterable[int]) -> set[int]: ...

    def forget(self, organization: str, event_ids: Collection[int]) -> None: ...

    def clear(self) -> None: ...


class RecentIds:
    """Event ids per organization, remembered for between `ttl_seconds / 2` and `ttl_seconds`.

    Two generations: new ids go into the current one; when it is half the TTL old or holds half the
    capacity, the previous generation is dropped and the current one takes its place. Membership and
    insertion stay single dictionary operations, and at most `capacity` ids (about 100 bytes each)
    are held. Ids are keyed by organization, so one organization's ids never mark another's.

    A generation maps each organization to a dict keyed by the ids' 128-bit integers: a dict of plain
    integers is invisible to the garbage collector, so a million remembered ids cost its full
    collections nothing (a set of (organization, id) tuples made every one walk them all).
    """

    def __init__(self, capacity: int = 1_000_000, ttl_seconds: float = 15 * 60,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._generation_size = max(1, capacity // 2)
        self._generation_seconds = ttl_seconds / 2
        self._clock = clock
        self._current: dict[str, dict[int, None]] = {}
        self._previous: dict[str, dict[int, None]] = {}
        self._current_size = 0
        self._started = clock()

    def __len__(self) -> int:
        return sum(len(ids) for generation in (self._current, self._previous) for ids in generation.values())

    def among(self, organization: str, event_ids: Iterable[int]) -> set[int]:
        """Which of these ids (UUID.int) are remembered: a batch's at once."""
        self._rotate()
        current, previous = self._current.get(organization, _NONE), self._previous.get(organization, _NONE)
        return {event_id for event_id in event_ids if event_id in current or event_id in previous}

    def claim(self, organization: str, event_ids: Iterable[int]) -> set[int]:
        """Remembers the ids not remembered yet, and returns the others: they are another request's.
        An id given twice is claimed once."""
        seen = set()
        for event_id in dict.fromkeys(event_ids):
            self._rotate()
            if (event_id in self._current.get(organization, _NONE)
                    or event_id in self._previous.get(organization, _NONE)):
                seen.add(event_id)
            else:
                self._current.setdefault(organization, {})[event_id] = None
                self._current_size += 1
        return seen

    def forget(self, organization: str, event_ids: Collection[int]) -> None:
        """Undo claim(): for ids whose enqueue failed, so that the client's retry is not
        a duplicate."""
        for generation in (self._current, self._previous):
            ids = generation.get(organization)
            if ids:
                for event_id in event_ids:
                    if ids.pop(event_id, _ABSENT) is not _ABSENT and generation is self._current:
                        self._current_size -= 1

    def clear(self) -> None:
        """Forget every id (Percus Micro's reset)."""
        self._current, self._previous, self._current_size = {}, {}, 0

    def _rotate(self) -> None:
        now = self._clock()
        if now - self._started >= self._generation_seconds or self._current_size >= self._generation_size:
            # Two generations idle for a whole TTL are both stale.
            stale = now - self._started >= 2 * self._generation_seconds
            self._previous = {} if stale else self._current
            self._current = {}
            self._current_size = 0
            self._started = now


_NONE: dict[int, None] = {}  # read-only stand-in for an organization without ids
_ABSENT = object()
