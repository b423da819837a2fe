"""`percus outcomes import`: a CRM export of business outcomes, or of an audience, into the store."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from percus.cli import shared
from percus.cli.progress import Reporter
from pipeline.reporting.selection import parse_slug

if TYPE_CHECKING:
    from percus.cli.shared import Commands
    from pipeline.outcomes.csv_import import Imported


def add(commands: Commands) -> None:
    outcomes = shared.group(commands, "outcomes", "business outcomes and audiences from a CRM")
    load = shared.command(outcomes, "import", run_import, "import a CSV with a header row: outcome_id, "
                          "viewer_hash, name, occurred_at[, value, currency]; or with --audience, a "
                          "viewer_hash column. Bad rows are reported by line and skipped")
    shared.org_option(load)
    load.add_argument("--audience", metavar="NAME", help="add the file's viewer hashes to this audience")
    load.add_argument("file", type=Path, metavar="FILE.csv", help="the CSV file, with a header row")


def run_import(args: argparse.Namespace) -> int:
    from pipeline.backends import open_store
    from pipeline.governance.viewer_keys import load_viewer_keys
    from pipeline.outcomes.csv_import import import_csv

    settings = shared.settings(args)
    org = parse_slug(args.org, "--org")
    audience = parse_slug(args.audience, "--audience") if args.audience is not None else None
    if shared.registry(settings).get(org) is None:
        raise ValueError(f"no organization named {org!r} (see `percus org create`)")
    # Keyed exactly as the gateway keys them: the data dir's key on the embedded default.
    local = settings.store.startswith("file://")
    keys = load_viewer_keys(data_dir=settings.data_dir if local else None)
    what = f"audience {audience}" if audience is not None else "outcomes"
    reporter = Reporter(f"import {what}", "rows read", detail=lambda so_far: (
        f"{so_far.accepted:,} stored, {so_far.duplicates:,} duplicates, {len(so_far.rejected):,} rejected"))
    with args.file.open(encoding="utf-8-sig", errors="replace", newline="") as lines, reporter as progress:
        result = import_csv(open_store(settings), org, lines, keys, audience=audience, progress=progress,
                            actor=shared.actor())
    for line, why in result.rejected:
        print(f"line {line}: {why}")
    print(f"done: {_line(what, result)}")
    return 0


def _line(what: str, result: Imported) -> str:
    return (f"{what}: {result.rows} rows read, {result.accepted} stored, {result.duplicates} duplicates, "
            f"{len(result.rejected)} rejected")
