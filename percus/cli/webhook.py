"""`percus webhook …`: webhook delivery run now, and its dead letters."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from percus.cli import shared
from translator.ids import check_slug

if TYPE_CHECKING:
    from percus.cli.shared import Commands


def add(commands: Commands) -> None:
    hooks = shared.group(commands, "webhook", "webhook delivery: run it now, dead letters")
    dead = shared.command(hooks, "dead-letters", run_dead_letters, "list the batches that failed for good")
    dead.add_argument("--org", help="only this organization's")
    dead.add_argument("--format", choices=("table", "json"), default="table")
    redrive = shared.command(hooks, "redrive", run_redrive, "put dead-lettered batches back in the outbox, "
                             "with fresh attempts")
    redrive.add_argument("--org", required=True)
    redrive.add_argument("--batch", action="append", metavar="ID", help="a batch id (repeatable)")
    redrive.add_argument("--all", action="store_true", help="every dead-lettered batch of the organization")
    deliver = shared.command(hooks, "deliver", run_deliver, "collect and send what is due now (what `percus "
                             "serve` does every tick)")
    deliver.add_argument("--org", help="only this organization")


def run_dead_letters(args: argparse.Namespace) -> int:
    from pipeline.webhooks.dead_letters import dead_letters

    org = check_slug(args.org, "organization") if args.org else None
    batches = dead_letters(shared.store(args), org)
    if args.format == "json":
        for batch in batches:
            print(batch.model_dump_json(exclude={"event_ids"}))
        return 0
    if not batches:
        print("no dead-lettered batches")
        return 0
    print(f"{'organization':<16} {'batch':<40} {'events':>6} {'attempts':>8}  {'dead since':<20} reason")
    for batch in batches:
        dead_at = f"{batch.dead_at:%Y-%m-%d %H:%M:%S}" if batch.dead_at else "-"
        print(f"{batch.organization_id:<16} {batch.batch_id:<40} {batch.event_count:>6} {batch.attempts:>8}  "
              f"{dead_at:<20} {batch.dead_reason} ({batch.last_error})")
    return 0


def run_redrive(args: argparse.Namespace) -> int:
    from pipeline.webhooks.dead_letters import redrive

    if not args.all and not args.batch:
        raise ValueError("name the batches to redrive with --batch ID (repeatable), or pass --all")
    redriven = redrive(shared.store(args), check_slug(args.org, "organization"),
                       None if args.all else args.batch, actor=shared.actor())
    for batch_id in redriven:
        print(f"redriven: {batch_id}")
    print(f"{len(redriven)} batches back in the outbox of {args.org!r}; they go out on the next delivery "
          "(`percus serve`'s loop, the webhooks Lambda, or `percus webhook deliver`)", file=sys.stderr)
    return 0


def run_deliver(args: argparse.Namespace) -> int:
    from pipeline.governance.registry import OrganizationRegistry
    from pipeline.webhooks.policy import WebhookPolicy
    from pipeline.webhooks.run import run

    store = shared.store(args)
    report = run(store, OrganizationRegistry(store, cache_seconds=0),
                 orgs=[check_slug(args.org, "organization")] if args.org else None,
                 policy=WebhookPolicy.from_env(), actor=shared.actor())
    if not report.organizations:
        print("no organization with an enabled webhook")
    for org, item in report.organizations.items():
        print(f"{org}: {item.events_collected} events collected, {item.batches_delivered} batches "
              f"({item.events_delivered} events) delivered, {item.failed_attempts} failed attempts, "
              f"{len(item.dead_lettered)} dead-lettered, {item.pending} waiting"
              + (f", error: {item.error}" if item.error else ""))
    return 0
