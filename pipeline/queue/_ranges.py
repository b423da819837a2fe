"""A set of disjoint half-open offset ranges: the local queue's deleted records beyond its cursor."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable


class Ranges:
    """Sorted, merged [start, end) ranges. Deletes arrive mostly in order, so the list stays short."""

    def __init__(self, pairs: Iterable[tuple[int, int]] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in pairs:
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        if start >= end:
            return
        # Ranges that overlap or touch [start, end) merge into one.
        i = bisect_left(self._ends, start)
        j = bisect_right(self._starts, end)
        if i < j:
            start = min(start, self._starts[i])
            end = max(end, self._ends[j - 1])
        self._starts[i:j] = [start]
        self._ends[i:j] = [end]

    def __contains__(self, point: int) -> bool:
        i = bisect_right(self._starts, point) - 1
        return i >= 0 and point < self._ends[i]

    def __bool__(self) -> bool:
        return bool(self._starts)

    def advance(self, cursor: int) -> int:
        """Move cursor over the ranges that begin at or before it, forgetting them."""
        while self._starts and self._starts[0] <= cursor:
            cursor = max(cursor, self._ends[0])
            del self._starts[0], self._ends[0]
        return cursor

    def pairs(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))
