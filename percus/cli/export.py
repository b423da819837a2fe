"""`percus export csv`: an organization's events, its daily summary rows or its engagement curve, as CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from percus.cli import shared
from percus.cli.progress import Reporter
from pipeline.reporting.exports import KINDS
from pipeline.reporting.selection import Selection, parse_range
from translator.ids import check_slug

if TYPE_CHECKING:
    from percus.cli.shared import Commands


def add(commands: Commands) -> None:
    export = shared.group(commands, "export", "CSV exports")
    csv = shared.command(export, "csv", run_csv, "export an organization's events (or daily summary rows) "
                         "as CSV: to --out FILE, or under exports/ in the store (prints where)")
    shared.org_option(csv)
    csv.add_argument("--project", metavar="P", help="only this project (default: every project)")
    csv.add_argument("--template", metavar="T", help="only this template (default: every template)")
    csv.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="first day (UTC) of event time")
    csv.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="last day (UTC), inclusive")
    csv.add_argument("--kind", choices=KINDS, default="events", help="curated events (the default), daily "
                     "summary rows, the engagement curve, or business outcomes")
    shared.flag(csv, "--include-bots", "keep the events of known bots")
    csv.add_argument("--out", type=Path, metavar="FILE",
                     help="write it to this file (default: under exports/ in the store)")


def run_csv(args: argparse.Namespace) -> int:
    from pipeline.backends import open_store
    from pipeline.query import open_engine
    from pipeline.reporting import exports

    settings = shared.settings(args)
    store = open_store(settings)
    engine = open_engine(settings, store)
    org = check_slug(args.org, "organization")
    if shared.registry(settings).get(org) is None:
        raise ValueError(f"unknown organization {org!r}")
    date_from, date_to = parse_range(args.date_from, args.date_to, names=("--from", "--to"))
    selection = Selection(project_id=args.project, template_id=args.template, date_from=date_from,
                          date_to=date_to, include_bots=args.include_bots)
    actor = shared.actor()
    with Reporter("export", "files", detail=lambda rows: f"{rows:,} rows") as progress:
        if args.out:
            rows = exports.save_export(store, engine, org, selection, args.out, kind=args.kind, actor=actor,
                                       progress=progress)
        else:
            made = exports.create_export(store, engine, org, selection, kind=args.kind, actor=actor,
                                         progress=progress)
    if args.out:
        print(f"wrote {rows} rows to {args.out}", file=sys.stderr)
        return 0
    local = store.local_path(made.key)
    print(local if local is not None else store.download_url(made.key, exports.URL_TTL_SECONDS))
    print(f"{made.rows} rows in {made.key}", file=sys.stderr)
    return 0
