"""`percus retention apply`: delete the partitions past their retention now."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from percus.cli import shared
from percus.cli.progress import Reporter

if TYPE_CHECKING:
    from percus.cli.shared import Commands


def add(commands: Commands) -> None:
    retention = shared.group(commands, "retention", "data retention")
    shared.command(retention, "apply", run_apply, "delete the partitions past their retention now "
                   "(idempotent)")


def run_apply(args: argparse.Namespace) -> int:
    from pipeline.backends import open_store
    from pipeline.governance.registry import OrganizationRegistry
    from pipeline.governance.retention import apply_retention

    settings = shared.settings(args)
    store = open_store(settings)
    # On S3 the bucket's lifecycle rules apply the zone defaults; only overrides are left to do.
    with Reporter("retention", "zones") as progress:
        report = apply_retention(store, OrganizationRegistry(store, cache_seconds=0),
                                 defaults=settings.store.startswith("file://"), actor=shared.actor(),
                                 progress=progress)
    for zone, orgs in report.days_deleted.items():
        for org, days in orgs.items():
            print(f"{zone} {org or '-'}: {len(days)} days ({days[0]} to {days[-1]})")
    print(f"objects deleted: {report.objects_deleted}")
    return 0
