"""`percus digest`: an organization's weekly PDF digest, written to a file or sent now."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from percus.cli import shared
from translator.ids import check_slug

if TYPE_CHECKING:
    from percus.cli.shared import Commands


def add(commands: Commands) -> None:
    digest = shared.command(commands, "digest", run, "the weekly PDF digest of an organization: write it "
                            "to a file, or --send it to the organization's digest recipients now")
    shared.org_option(digest, shortcut=True)
    which = digest.add_mutually_exclusive_group()
    which.add_argument("--week", metavar="YYYY-Www", help="ISO week, e.g. 2026-W48 (default: the last "
                       "complete week, UTC)")
    shared.flag(which, "--preview", "the current, unfinished week so far, to a file (never sent)")
    output = digest.add_mutually_exclusive_group()
    output.add_argument("--out", type=Path, metavar="FILE.pdf", help="where to write it (default: "
                        "percus-digest-ORG-WEEK.pdf here)")
    shared.flag(output, "--send", "deliver it (outbox or SES, as PERCUS_MAIL says) and record it, even if "
                "the schedule sent that week")


def run(args: argparse.Namespace) -> int:
    from pipeline.backends import open_mailer, open_store
    from pipeline.query import open_engine
    from pipeline.reporting import digest

    settings = shared.settings(args)
    org = check_slug(args.org, "organization")
    if args.preview and args.send:
        raise ValueError("--preview is never sent: leave out --send")
    now = datetime.now(UTC)
    try:
        week = (digest.Week.of(now.date()) if args.preview else digest.Week.parse(args.week) if args.week
                else digest.Week.last_complete(now))
    except digest.DigestError as exc:
        raise ValueError(f"--week: {exc}") from None
    shared.registry(settings).require(org)
    store = open_store(settings)
    engine = open_engine(settings, store)
    if args.send:
        mailer = open_mailer(settings)
        sent = digest.send(store, engine, mailer, org, week, actor=shared.actor(), trigger="cli")
        print(f"sent the digest of {org} for {week} to {sent.recipients} recipient(s) "
              f"({mailer.name}: {sent.message_id})")
        return 0
    made = digest.build(engine, org, week, preview=args.preview)
    filename = made.filename.replace(".pdf", "-preview.pdf") if args.preview else made.filename
    out = args.out or Path(filename)
    if out.is_dir():
        out = out / filename
    try:
        out.write_bytes(made.pdf)
    except OSError as exc:
        raise ValueError(f"cannot write {out}: {exc.strerror}") from None
    print(out)
    print(f"{org}, {week}: {made.pages} page(s), {len(made.pdf) / 1024:.0f} KB"
          + ("" if made.figures.has_views else "; no views in this week (the PDF says so)"), file=sys.stderr)
    return 0
