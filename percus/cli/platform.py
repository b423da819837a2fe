"""`percus platform replay`: a backfill of the platform's integration events from a JSON Lines file."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from percus.cli import shared
from percus.cli.progress import Reporter

if TYPE_CHECKING:
    from percus.cli.shared import Commands

BATCH = 500


def add(commands: Commands) -> None:
    platform = shared.group(commands, "platform", "the platform's integration events")
    replay = shared.command(platform, "replay", run_replay, "store integration events from a JSON Lines "
                            "file (one event per line), as if they came from the platform bus")
    replay.add_argument("file", type=Path, help="JSON Lines: one integration event per line")


def _lines(path: Path) -> Iterator[tuple[int, Any | None, str | None]]:
    """(line number, the event or None, why not) for each non-blank line."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line), None
            except ValueError:
                yield number, None, "not a JSON value"


def run_replay(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from pipeline.platform.handler import handle

    registry = shared.registry(shared.settings(args))
    totals = {"accepted": 0, "duplicates": 0, "ignored": 0, "rejected": 0}
    batch: list[tuple[int, Any]] = []

    def flush() -> None:
        outcome = handle(registry, [event for _, event in batch], datetime.now(UTC))
        for refused in outcome.rejected:
            line = batch[refused["index"]][0]
            progress.note(f"line {line}: {refused['code']}: {refused['message']}")
        for name in ("accepted", "duplicates", "ignored"):
            totals[name] += getattr(outcome, name)
        totals["rejected"] += len(outcome.rejected)
        progress(batch[-1][0], None)
        batch.clear()

    with Reporter("replay", "lines read") as progress:
        for number, event, error in _lines(args.file):
            if error is not None:
                progress.note(f"line {number}: {error}")
                totals["rejected"] += 1
                continue
            batch.append((number, event))
            if len(batch) == BATCH:
                flush()
        if batch:
            flush()
    print(", ".join(f"{count} {name}" for name, count in totals.items()))
    return 1 if totals["rejected"] else 0
