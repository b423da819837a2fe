"""The progress callback of long pipeline work (compaction, rollups, DSAR, retention, exports, imports):
called after each step with (steps done, steps to do or None when not known ahead, the report so far).
The command line draws it (percus/cli/progress.py); the pipeline only calls it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias, TypeVar

SoFar = TypeVar("SoFar")

Progress: TypeAlias = Callable[[int, int | None, SoFar], None]
