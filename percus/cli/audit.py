"""`percus audit list`: the audit log, one JSON record a line."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from percus.cli import shared

if TYPE_CHECKING:
    from percus.cli.shared import Commands


def add(commands: Commands) -> None:
    audit = shared.group(commands, "audit", "the audit log")
    listing = shared.command(audit, "list", run_list, "print audit records, oldest first, one JSON object a "
                             "line")
    listing.add_argument("--org", help="only this organization's")
    listing.add_argument("--action", help="only this action, or family (dsar, retention, org, ...)")
    listing.add_argument("--since", metavar="YYYY-MM-DD[THH:MM]", help="only records from then (UTC)")


def run_list(args: argparse.Namespace) -> int:
    from pipeline.governance import audit

    since = shared.since(args.since)
    for record in audit.list_records(shared.store(args), org=args.org, action=args.action, since=since):
        shared.print_json(record, sort_keys=True)
    return 0
