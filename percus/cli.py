"""`percus …`: the command line of ARCHITECTURE.md. Each command loads settings from the environment."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from percus.config import Settings, load_settings
from pipeline.layout import check_slug


def _settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "data_dir", None):
        os.environ["PERCUS_DATA_DIR"] = str(args.data_dir)
    return load_settings()


def _cmd_serve(args: argparse.Namespace) -> int:
    from percus.serve import serve

    serve(_settings(args), host=args.host, port=args.port, quiet=args.quiet)
    return 0


def _cmd_token_issue(args: argparse.Namespace) -> int:
    from gateway.tokens import issue_token, parse_ttl

    settings = _settings(args)
    print(issue_token(settings.token_keys, organization_id=args.org, project_id=args.project,
                      public_share_id=args.share, distribution_channel_id=args.channel,
                      ttl=parse_ttl(args.ttl), origins=args.origin))
    return 0


def _registry(settings: Settings):  # type: ignore[no-untyped-def]
    from pipeline.backends import open_store
    from pipeline.organizations import OrganizationRegistry

    return OrganizationRegistry(open_store(settings), cache_seconds=0, actor=_actor())


def _actor() -> str:
    """Who runs the command, for the audit log."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in some containers
        return "cli"


def _cmd_org_create(args: argparse.Namespace) -> int:
    registry = _registry(_settings(args))
    org = registry.create(args.org, retention_days=args.retention_days,
                          legacy_group_keys=tuple(args.legacy_group_key or ()))
    print(f"created organization {org.organization_id!r}"
          + (f" (retention {org.retention_days} days)" if org.retention_days else "")
          + (f", legacy group keys: {len(org.legacy_group_keys)}" if org.legacy_group_keys else ""))
    return 0


def _cmd_org_key(args: argparse.Namespace) -> int:
    registry = _registry(_settings(args))
    if args.revoke:
        registry.revoke_api_key(args.org, args.revoke)
        print(f"revoked key {args.revoke} of {args.org!r}")
        return 0
    key = registry.create_api_key(args.org)
    print(key)
    print("(shown once: only its hash is stored)", file=sys.stderr)
    return 0


def _cmd_legacy_register(args: argparse.Namespace) -> int:
    from pipeline.organizations import Attachment

    registry = _registry(_settings(args))
    registry.register_attachment(Attachment(attachment_code=args.attachment_code, organization_id=args.org,
                                            project_id=args.project, template_id=args.template))
    print(f"attachment {args.attachment_code!r} → {args.org}/{args.project}")
    return 0


def _progress(label: str) -> Callable[..., None]:
    """A one-line counter on stderr for long runs (only when stderr is a terminal)."""
    def show(done: int, total: int, *_: object) -> None:
        if sys.stderr.isatty():
            end = "\n" if done == total else "\r"
            print(f"{label}: {done}/{total}", end=end, file=sys.stderr, flush=True)
    return show


def _cmd_compact(args: argparse.Namespace) -> int:
    from datetime import datetime

    from pipeline.backends import open_store
    from pipeline.compactor import compact

    hour = datetime.strptime(args.hour, "%Y-%m-%dT%H") if args.hour else None
    report = compact(open_store(_settings(args)), hour=hour, progress=_progress("partitions"))
    print(f"raw objects read: {report.raw_objects_read}, events: {report.events_in}, duplicates "
          f"dropped: {report.duplicates_dropped}, rejected: {report.events_rejected}, partitions "
          f"written: {len(report.partitions_written)}, quarantined: {len(report.quarantined_objects)}")
    for key in report.quarantined_objects:
        print(f"quarantined: {key}")
    return 0


def _cmd_rollup(args: argparse.Namespace) -> int:
    from pipeline.backends import open_store
    from pipeline.rollups import build_rollups

    day = _date(args.date, "--date") if args.date else None
    report = build_rollups(open_store(_settings(args)), day=day, progress=_progress("days"))
    print(f"days built: {len(report.days_built)}, unchanged: {report.days_fresh}, files written: "
          f"{report.files_written}, sessions: {report.sessions}")
    return 0


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} takes a date as YYYY-MM-DD, not {text!r}") from None


def _cmd_report_summary(args: argparse.Namespace) -> int:
    from pipeline import metrics, reports
    from pipeline.backends import open_store
    from pipeline.query import open_engine

    settings = _settings(args)
    engine = open_engine(settings, open_store(settings))
    result = reports.summary(engine, check_slug(args.org, "organization"), project_id=args.project,
                             template_id=args.template,
                             date_from=_date(args.date_from, "--from") if args.date_from else None,
                             date_to=_date(args.date_to, "--to") if args.date_to else None)
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
    units = {metric.name: metric.unit for metric in metrics.SUMMARY}
    width = max(map(len, result))
    for name, value in result.items():
        shown = "-" if value is None else f"{value:.1%}" if units.get(name) == "fraction" else value
        print(f"{name:<{width}}  {shown}")
    return 0


def _cmd_admin_key(args: argparse.Namespace) -> int:
    registry = _registry(_settings(args))
    if args.revoke:
        registry.revoke_admin_key(args.revoke)
        print(f"revoked admin key {args.revoke}")
        return 0
    print(registry.create_admin_key())
    print("(shown once: only its hash is stored; it reads every organization)", file=sys.stderr)
    return 0


def _cmd_export_csv(args: argparse.Namespace) -> int:
    from pipeline import exports
    from pipeline.backends import open_store
    from pipeline.query import open_engine

    settings = _settings(args)
    store = open_store(settings)
    engine = open_engine(settings, store)
    org = check_slug(args.org, "organization")
    if _registry(settings).get(org) is None:
        raise ValueError(f"unknown organization {org!r}")
    selection = exports.ExportFilter(
        kind=args.kind, project_id=args.project, template_id=args.template, include_bots=args.include_bots,
        date_from=_date(args.date_from, "--from") if args.date_from else None,
        date_to=_date(args.date_to, "--to") if args.date_to else None)
    actor = _actor()
    if args.out:
        rows = exports.save_export(store, engine, org, selection, args.out, actor=actor)
        print(f"wrote {rows} rows to {args.out}", file=sys.stderr)
        return 0
    made = exports.create_export(store, engine, org, selection, actor=actor)
    local = store.local_path(made.key)
    print(local if local is not None else store.download_url(made.key, exports.URL_TTL_SECONDS))
    print(f"{made.rows} rows in {made.key}", file=sys.stderr)
    return 0


def _cmd_dsar_delete(args: argparse.Namespace) -> int:
    from pipeline.backends import open_store
    from pipeline.dsar import delete_viewer
    from pipeline.viewer_keys import load_viewer_keys

    settings = _settings(args)
    # Only the embedded default keeps its viewer key in the data dir; elsewhere it is configured.
    local = settings.store.startswith("file://")
    keys = load_viewer_keys(data_dir=settings.data_dir if local else None)
    report = delete_viewer(open_store(settings), check_slug(args.org, "organization"), args.viewer_hash,
                           keys=keys, progress=_progress("objects"), actor=_actor())
    print(f"request {report.request_id}{' (resumed)' if report.resumed else ''}: removed "
          f"{report.count('raw')} raw lines, {report.count('quarantine')} quarantined lines, "
          f"{report.count('curated')} curated rows, {report.count('viewers')} viewer rollup rows; "
          f"{len(report.removed)} objects changed ({len(report.deleted)} deleted), rollup days rebuilt: "
          f"{', '.join(day.isoformat() for day in report.rollup_days_rebuilt) or 'none'}")
    return 0


def _cmd_retention_apply(args: argparse.Namespace) -> int:
    from pipeline.backends import open_store
    from pipeline.organizations import OrganizationRegistry
    from pipeline.retention import apply_retention

    settings = _settings(args)
    store = open_store(settings)
    # On S3 the bucket's lifecycle rules apply the zone defaults; only overrides are left to do.
    report = apply_retention(store, OrganizationRegistry(store, cache_seconds=0),
                             defaults=settings.store.startswith("file://"), actor=_actor())
    for zone, orgs in report.days_deleted.items():
        for org, days in orgs.items():
            print(f"{zone} {org or '-'}: {len(days)} days ({days[0]} to {days[-1]})")
    print(f"objects deleted: {report.objects_deleted}")
    return 0


def _cmd_audit_list(args: argparse.Namespace) -> int:
    from datetime import datetime

    from pipeline import audit
    from pipeline.backends import open_store

    try:
        since = datetime.fromisoformat(args.since) if args.since else None
    except ValueError:
        raise ValueError(f"--since takes YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC), not {args.since!r}") from None
    for record in audit.list_records(open_store(_settings(args)), org=args.org, action=args.action,
                                     since=since):
        print(json.dumps(record, sort_keys=True, ensure_ascii=False))
    return 0


def _cmd_docs(args: argparse.Namespace) -> int:
    from percus.generated_docs import stale_documents, write_documents

    if args.check:
        stale = stale_documents()
        for path in stale:
            print(f"stale: {path}", file=sys.stderr)
        return 1 if stale else 0
    for path in write_documents():
        print(f"wrote {path}")
    return 0


def _cmd_build_js(args: argparse.Namespace) -> int:
    from js.build import run

    return run(check=args.check)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="percus", description="Percus analytics: video-engagement "
                                     "analytics for personalized video.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_text: str,
                parent: argparse._SubParsersAction = commands) -> argparse.ArgumentParser:  # type: ignore[type-arg]
        sub = parent.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        sub.add_argument("--data-dir", type=Path, help="data directory (default: $PERCUS_DATA_DIR "
                         "or ./percus-data)")
        return sub

    serve = command("serve", _cmd_serve, "run the gateway with the background writer on the embedded "
                    "default")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--quiet", action="store_true", help="print no banner and no request log")

    token = commands.add_parser("token", help="share tokens").add_subparsers(dest="sub", required=True)
    issue = command("issue", _cmd_token_issue, "print a signed share token", token)
    issue.add_argument("--org", required=True, help="organization id")
    issue.add_argument("--project", required=True, help="project id")
    issue.add_argument("--share", help="public share id")
    issue.add_argument("--channel", help="distribution channel id")
    issue.add_argument("--ttl", default="30d", help="lifetime, e.g. 30d, 12h, 90m (default 30d)")
    issue.add_argument("--origin", action="append", help="allowed page origin (repeatable); "
                       "default: any origin")
    compact = command("compact", _cmd_compact, "compact raw events into curated Parquet now (idempotent)")
    compact.add_argument("--hour", metavar="YYYY-MM-DDTHH", help="only this hour (default: all new data)")

    rollup = command("rollup", _cmd_rollup, "build the daily rollups now (idempotent)")
    rollup.add_argument("--date", metavar="YYYY-MM-DD", help="rebuild this day (default: every closed "
                        "day whose data changed)")

    report = commands.add_parser("report", help="engagement reports").add_subparsers(dest="sub",
                                                                                      required=True)
    summary = command("summary", _cmd_report_summary, "the summary metrics of an organization", report)
    summary.add_argument("--org", required=True)
    summary.add_argument("--project")
    summary.add_argument("--template")
    summary.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD")
    summary.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD")
    summary.add_argument("--format", choices=("table", "json"), default="table")

    org = commands.add_parser("org", help="organizations and their reporting API keys").add_subparsers(
        dest="sub", required=True)
    create = command("create", _cmd_org_create, "create an organization", org)
    create.add_argument("org", help="organization id")
    create.add_argument("--retention-days", type=int, help="override the zones' default retention")
    create.add_argument("--legacy-group-key", action="append", metavar="KEY",
                        help="an Individeo trackerGroupKey that posts for this organization (repeatable)")
    key = command("key", _cmd_org_key, "create (print once) or revoke a reporting API key", org)
    key.add_argument("org", help="organization id")
    key.add_argument("--revoke", metavar="KEY_ID", help="revoke the key with this id instead")

    admin = commands.add_parser("admin", help="admin keys (every organization's reports and dashboard)"
                                ).add_subparsers(dest="sub", required=True)
    admin_key = command("key", _cmd_admin_key, "create (print once) or revoke an admin key", admin)
    admin_key.add_argument("--revoke", metavar="KEY_ID", help="revoke the admin key with this id instead")

    export = commands.add_parser("export", help="CSV exports").add_subparsers(dest="sub", required=True)
    csv = command("csv", _cmd_export_csv, "export an organization's events (or daily summary rows) as "
                  "CSV: to --out FILE, or under exports/ in the store (prints where)", export)
    csv.add_argument("--org", required=True)
    csv.add_argument("--project")
    csv.add_argument("--template")
    csv.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="first day (UTC) of event time")
    csv.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="last day (UTC), inclusive")
    csv.add_argument("--kind", choices=("events", "summary"), default="events")
    csv.add_argument("--include-bots", action="store_true", help="keep the events of known bots")
    csv.add_argument("--out", type=Path, metavar="FILE")

    legacy = commands.add_parser("legacy", help="Individeo migration").add_subparsers(dest="sub",
                                                                                      required=True)
    register = command("register", _cmd_legacy_register, "make an Individeo attachment code resolvable "
                       "by the compat script", legacy)
    register.add_argument("--org", required=True)
    register.add_argument("--project", required=True)
    register.add_argument("--attachment-code", required=True)
    register.add_argument("--template")

    dsar = commands.add_parser("dsar", help="data subject requests").add_subparsers(dest="sub", required=True)
    dsar_delete = command("delete", _cmd_dsar_delete, "delete every event of one viewer in one organization "
                          "(idempotent; carries on an interrupted run)", dsar)
    dsar_delete.add_argument("--org", required=True)
    dsar_delete.add_argument("--viewer-hash", required=True, metavar="HASH",
                             help="the viewer_hash the SDK computes for the viewer (64 hex characters)")

    retention = commands.add_parser("retention", help="data retention").add_subparsers(dest="sub",
                                                                                       required=True)
    command("apply", _cmd_retention_apply, "delete the partitions past their retention now (idempotent)",
            retention)

    audit_log = commands.add_parser("audit", help="the audit log").add_subparsers(dest="sub", required=True)
    audit_list = command("list", _cmd_audit_list, "print audit records, oldest first, one JSON object a "
                         "line", audit_log)
    audit_list.add_argument("--org", help="only this organization's")
    audit_list.add_argument("--action", help="only this action, or family (dsar, retention, org, ...)")
    audit_list.add_argument("--since", metavar="YYYY-MM-DD[THH:MM]", help="only records from then (UTC)")

    docs = commands.add_parser("docs", help="regenerate the documents generated from the code "
                               "(JSON Schema, Individeo tables)", description="regenerate the documents "
                               "generated from the code")
    docs.set_defaults(handler=_cmd_docs)
    docs.add_argument("--check", action="store_true", help="only report stale documents (exit 1)")
    build_js = commands.add_parser("build-js", help="regenerate the browser bundles (js/dist) from js/src "
                                   "and translator's tables", description="regenerate the browser bundles")
    build_js.set_defaults(handler=_cmd_build_js)
    build_js.add_argument("--check", action="store_true", help="only report stale bundles (exit 1)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        sys.exit(args.handler(args))
    except ValueError as exc:  # bad input from the command line: say it, no traceback
        print(f"percus: error: {exc}", file=sys.stderr)
        sys.exit(2)
