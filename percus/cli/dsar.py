"""`percus dsar delete`: a data subject request, every event of one viewer deleted."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from percus.cli import shared
from percus.cli.progress import Reporter
from translator.ids import check_slug

if TYPE_CHECKING:
    from percus.cli.shared import Commands
    from pipeline.governance.dsar_queue import QueueReport


def add(commands: Commands) -> None:
    dsar = shared.group(commands, "dsar", "data subject requests")
    delete = shared.command(dsar, "delete", run_delete, "delete every event of one viewer in one "
                            "organization (idempotent; carries on an interrupted run)")
    shared.org_option(delete)
    delete.add_argument("--viewer-hash", required=True, metavar="HASH",
                        help="the viewer_hash the SDK computes for the viewer (64 hex characters)")


def run_delete(args: argparse.Namespace) -> int:
    from pipeline.backends import open_store
    from pipeline.governance.dsar import delete_viewer
    from pipeline.governance.viewer_keys import load_viewer_keys

    settings = shared.settings(args)
    # Only the embedded default keeps its viewer key in the data dir; elsewhere it is configured.
    local = settings.store.startswith("file://")
    keys = load_viewer_keys(data_dir=settings.data_dir if local else None)
    org = check_slug(args.org, "organization")
    shared.warn_unregistered(settings, org, "the deletion still searches its events")
    queue = settings.data_dir / "queue" if settings.queue == "local" else None
    with Reporter("dsar", "objects") as progress:
        report = delete_viewer(open_store(settings), org, args.viewer_hash, keys=keys, queue=queue,
                               progress=progress, actor=shared.actor())
    print(_queue_line(report.queue))
    print(f"request {report.request_id}{' (resumed)' if report.resumed else ''}: removed "
          f"{report.count('raw')} raw lines, {report.count('quarantine')} quarantined lines, "
          f"{report.count('curated')} curated rows, {report.count('viewers')} viewer rollup rows, "
          f"{report.count('outcomes')} outcome rows, {report.count('audiences')} audience rows; "
          f"{len(report.removed)} objects changed ({len(report.deleted)} deleted), rollup days rebuilt: "
          f"{', '.join(day.isoformat() for day in report.rollup_days_rebuilt) or 'none'}")
    return 0


def _queue_line(queued: QueueReport | None) -> str:
    if queued is None:
        return ("queue: SQS, which a deletion cannot search; its retention bounds how long it holds an "
                "event (docs/privacy.md)")
    found = queued.result
    how = (f"percus serve's writer (pid {queued.holder}) carried it out and drained the queue"
           if queued.holder else f"drained the queue, writing {queued.written} other events to raw")
    return (f"queue: {found.records} records, {found.dead_letters} dead letters and "
            f"{found.corrupt_files} corrupt files of the viewer removed; {how}")
