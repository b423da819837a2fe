"""`percus compact`, `percus rollup`: run a pipeline stage now rather than on `percus serve`'s schedule."""

from __future__ import annotations

import argparse
import re
from datetime import datetime
from typing import TYPE_CHECKING

from percus.cli import shared
from percus.cli.progress import Reporter
from pipeline.reporting.selection import parse_date

if TYPE_CHECKING:
    from percus.cli.shared import Commands


def add(commands: Commands) -> None:
    compact = shared.command(commands, "compact", run_compact, "compact raw events into curated Parquet now "
                             "(idempotent)")
    compact.add_argument("--hour", metavar="YYYY-MM-DDTHH", help="only this hour (default: all new data)")
    rollup = shared.command(commands, "rollup", run_rollup, "build the daily rollups now (idempotent)")
    rollup.add_argument("--date", metavar="YYYY-MM-DD", help="rebuild this day (default: every closed "
                        "day whose data changed)")


def run_compact(args: argparse.Namespace) -> int:
    from pipeline.curated.compactor import compact

    hour = _hour(args.hour) if args.hour is not None else None
    with Reporter("compact", "partitions", detail=lambda so_far: f"{so_far.events_in:,} events") as progress:
        report = compact(shared.store(args), hour=hour, progress=progress)
    print(f"raw objects read: {report.raw_objects_read}, events: {report.events_in}, duplicates "
          f"dropped: {report.duplicates_dropped}, rejected: {report.events_rejected}, partitions "
          f"written: {len(report.partitions_written)}, quarantined: {len(report.quarantined_objects)}")
    for key in report.quarantined_objects:
        print(f"quarantined: {key}")
    return 0


def run_rollup(args: argparse.Namespace) -> int:
    from pipeline.reporting.rollups import build_rollups

    day = parse_date(args.date, "--date") if args.date is not None else None
    with Reporter("rollup", "days", detail=lambda so_far: f"{so_far.sessions:,} sessions") as progress:
        report = build_rollups(shared.store(args), day=day, progress=progress)
    print(f"days built: {len(report.days_built)}, unchanged: {report.days_fresh}, files written: "
          f"{report.files_written}, sessions: {report.sessions}")
    return 0


def _hour(text: str) -> datetime:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}", text):
        try:
            return datetime.strptime(text, "%Y-%m-%dT%H")
        except ValueError:
            pass
    raise ValueError(f"--hour must look like 2026-11-25T10 (YYYY-MM-DDTHH, UTC), not {text!r}")
