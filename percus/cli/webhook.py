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
    shared.org_option(dead, required=False)
    shared.format_option(dead, json_text="JSON, one batch a line")
    redrive = shared.command(hooks, "redrive", run_redrive, "put dead-lettered batches back in the outbox, "
                             "with fresh attempts")
    shared.org_option(redrive)
    redrive.add_argument("--batch", action="append", metavar="ID", help="a batch id (repeatable)")
    shared.flag(redrive, "--all", "every dead-lettered batch of the organization")
    deliver = shared.command(hooks, "deliver", run_deliver, "collect and send what is due now (what `percus "
                             "serve` does every tick)")
    shared.org_option(deliver, required=False)


def run_dead_letters(args: argparse.Namespace) -> int:
    from pipeline.webhooks.dead_letters import dead_letters

    org = check_slug(args.org, "organization") if args.org else None
    batches = dead_letters(shared.store(args), org)
    if args.format == "json":
        for batch in batches:
            print(batch.model_dump_json(exclude={"event_ids"}))
        return 0
    rows = [{**batch.model_dump(include={"organization_id", "batch_id", "event_count", "attempts"}),
             "dead_at": f"{batch.dead_at:%Y-%m-%d %H:%M:%S}" if batch.dead_at else None,
             "dead_reason": f"{batch.dead_reason} ({batch.last_error})"} for batch in batches]
    shared.print_table(rows, ["organization_id", "batch_id", "event_count", "attempts", "dead_at",
                              "dead_reason"])
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
