"""`percus audit list`: the audit log, one JSON record a line (or a table)."""

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
    shared.org_option(listing, required=False)
    listing.add_argument("--action", help="only this action, or family (dsar, retention, org, ...)")
    listing.add_argument("--since", metavar="YYYY-MM-DD[THH:MM]", help="only records from then (UTC)")
    shared.format_option(listing, default="json", json_text="one JSON object a line, which scripts read")


def run_list(args: argparse.Namespace) -> int:
    from pipeline.governance import audit

    since = shared.since(args.since)
    records = audit.list_records(shared.store(args), org=args.org, action=args.action, since=since)
    if args.format == "json":
        for record in records:
            shared.print_json(record, sort_keys=True)
        return 0
    rows = [{"at": record["at"], "action": record["action"], "actor": record.get("actor"),
             "organization_id": record["scope"].get("organization_id"),
             "details": ", ".join(f"{key} {value}"
                                  for key, value in {**record["scope"], **record["details"]}.items()
                                  if key != "organization_id")}
            for record in records]
    shared.print_table(rows, ["at", "action", "actor", "organization_id", "details"])
    return 0
