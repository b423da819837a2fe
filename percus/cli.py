"""`percus …`: the command line (docs/operations.md). Each command loads settings from the environment."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import Settings, load_settings
from pipeline.reporting.selection import Selection, parse_date, parse_minutes, parse_range, parse_slug
from translator.ids import check_slug

if TYPE_CHECKING:
    from pipeline.governance.registry import OrganizationRegistry


def _settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "data_dir", None):
        os.environ["PERCUS_DATA_DIR"] = str(args.data_dir)
    return load_settings()


def _cmd_serve(args: argparse.Namespace) -> int:
    from percus.serve import serve
    from pipeline.queue.local import QueueLocked

    settings = _settings(args)
    try:
        serve(settings, host=args.host, port=args.port, quiet=args.quiet)
    except QueueLocked:  # the local queue's lock: one process at a time writes it
        print(f"percus: error: another percus serve uses {settings.data_dir / 'queue'}", file=sys.stderr)
        return 1
    return 0


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, not {text!r}")
    return int(text)


def _days(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a number of days is a whole number from 1, not {text!r}")
    return int(text)


def _cmd_token_issue(args: argparse.Namespace) -> int:
    from gateway.tokens import issue_token, parse_ttl

    settings = _settings(args)
    print(issue_token(settings.token_keys, organization_id=args.org, project_id=args.project,
                      public_share_id=args.share, distribution_channel_id=args.channel,
                      ttl=parse_ttl(args.ttl), origins=args.origin))
    _warn_unregistered(settings, args.org, "its events are accepted, but no report can read them")
    return 0


def _warn_unregistered(settings: Settings, org: str, consequence: str) -> None:
    """A warning, not a refusal: a mistyped organization is caught, while the gateway accepts any
    signed organization, so its events stay tokenable and deletable."""
    if _registry(settings).get(org) is None:
        print(f"percus: warning: organization {org!r} is not registered ({consequence}); "
              f"`percus org create {org}` registers it", file=sys.stderr)


def _registry(settings: Settings) -> OrganizationRegistry:
    from pipeline.backends import open_store
    from pipeline.governance.registry import OrganizationRegistry

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


def _cmd_org_set(args: argparse.Namespace) -> int:
    registry = _registry(_settings(args))
    org = check_slug(args.org, "organization")
    before = registry.require(org).retention_days
    after = registry.update(org, retention_days=None if args.no_retention_override else args.retention_days)

    def shown(days: int | None) -> str:
        return f"{days} days" if days else "the zones' defaults"

    print(f"retention of {org!r}: {shown(after.retention_days)} (was {shown(before)})")
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


def _cmd_org_digest(args: argparse.Namespace) -> int:
    registry = _registry(_settings(args))
    org = check_slug(args.org, "organization")
    if args.digest_to:
        digest = registry.set_digest(org, enabled=True, recipients=args.digest_to)
    elif args.no_digest:
        digest = registry.set_digest(org, enabled=False)
    else:
        digest = registry.require(org).digest
    state = "enabled" if digest.enabled else "disabled"
    print(f"weekly digest of {org!r}: {state}, {len(digest.recipients)} recipient(s)"
          + (f": {', '.join(digest.recipients)}" if digest.recipients else ""))
    return 0


def _cmd_digest(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from pipeline.backends import open_mailer, open_store
    from pipeline.query import open_engine
    from pipeline.reporting import digest

    settings = _settings(args)
    org = check_slug(args.org, "organization")
    try:
        week = digest.Week.parse(args.week) if args.week else digest.Week.last_complete(datetime.now(UTC))
    except digest.DigestError as exc:
        raise ValueError(f"--week: {exc}") from None
    _registry(settings).require(org)
    store = open_store(settings)
    engine = open_engine(settings, store)
    if args.send:
        mailer = open_mailer(settings)
        sent = digest.send(store, engine, mailer, org, week, actor=_actor(), trigger="cli")
        print(f"sent the digest of {org} for {week} to {sent.recipients} recipient(s) "
              f"({mailer.name}: {sent.message_id})")
        return 0
    made = digest.build(engine, org, week)
    out = args.out or Path(made.filename)
    if out.is_dir():
        out = out / made.filename
    try:
        out.write_bytes(made.pdf)
    except OSError as exc:
        raise ValueError(f"cannot write {out}: {exc.strerror}") from None
    print(out)
    print(f"{org}, {week}: {made.pages} page(s), {len(made.pdf) / 1024:.0f} KB"
          + ("" if made.figures.has_views else "; no views in this week (the PDF says so)"), file=sys.stderr)
    return 0


def _cmd_org_webhook(args: argparse.Namespace) -> int:
    from datetime import datetime

    from pipeline.webhooks.dead_letters import dead_letters, pending

    registry = _registry(_settings(args))
    org = check_slug(args.org, "organization")
    if args.disable and (args.url or args.rotate_secret or args.since):
        raise ValueError("--disable takes no other option")
    if args.since and not args.url:
        raise ValueError("--since goes with --url")
    try:
        since = datetime.fromisoformat(args.since) if args.since else None
    except ValueError:
        raise ValueError(f"--since takes YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC), not {args.since!r}") from None
    secret = None
    if args.disable:
        registry.disable_webhook(org)
        print(f"webhook of {org!r} disabled (batches waiting stay in the outbox)")
    elif args.url:
        secret = registry.set_webhook(org, args.url, rotate_secret=args.rotate_secret, since=since)
    elif args.rotate_secret:
        secret = registry.rotate_webhook_secret(org)
    webhook = registry.require(org).webhook
    if webhook is None:
        print(f"{org!r} has no webhook: set one with --url https://…")
        return 0
    if secret is not None:
        print(secret)
        print("(the signing secret, shown once; the previous one, if any, keeps signing for 24 hours)",
              file=sys.stderr)
    elif args.url:
        print("(signing secret unchanged; --rotate-secret makes a new one)", file=sys.stderr)
    store = registry.store
    # With a new secret, stdout holds only the secret, so it can be captured on its own.
    print(f"url: {webhook.url}\nenabled: {'yes' if webhook.enabled else 'no'}\n"
          f"events received since: {webhook.since.isoformat()}\n"
          f"batches waiting: {len(pending(store, org))}\n"
          f"dead letters: {len(dead_letters(store, org))}",
          file=sys.stderr if secret else sys.stdout)
    return 0


def _cmd_webhook_dead_letters(args: argparse.Namespace) -> int:
    from pipeline.backends import open_store
    from pipeline.webhooks.dead_letters import dead_letters

    org = check_slug(args.org, "organization") if args.org else None
    batches = dead_letters(open_store(_settings(args)), org)
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


def _cmd_webhook_redrive(args: argparse.Namespace) -> int:
    from pipeline.backends import open_store
    from pipeline.webhooks.dead_letters import redrive

    if not args.all and not args.batch:
        raise ValueError("name the batches to redrive with --batch ID (repeatable), or pass --all")
    store = open_store(_settings(args))
    redriven = redrive(store, check_slug(args.org, "organization"), None if args.all else args.batch,
                       actor=_actor())
    for batch_id in redriven:
        print(f"redriven: {batch_id}")
    print(f"{len(redriven)} batches back in the outbox of {args.org!r}; they go out on the next delivery "
          "(`percus serve`'s loop, the webhooks Lambda, or `percus webhook deliver`)", file=sys.stderr)
    return 0


def _cmd_webhook_deliver(args: argparse.Namespace) -> int:
    from pipeline.backends import open_store
    from pipeline.governance.registry import OrganizationRegistry
    from pipeline.webhooks.policy import WebhookPolicy
    from pipeline.webhooks.run import run

    store = open_store(_settings(args))
    report = run(store, OrganizationRegistry(store, cache_seconds=0),
                 orgs=[check_slug(args.org, "organization")] if args.org else None,
                 policy=WebhookPolicy.from_env(), actor=_actor())
    if not report.organizations:
        print("no organization with an enabled webhook")
    for org, item in report.organizations.items():
        print(f"{org}: {item.events_collected} events collected, {item.batches_delivered} batches "
              f"({item.events_delivered} events) delivered, {item.failed_attempts} failed attempts, "
              f"{len(item.dead_lettered)} dead-lettered, {item.pending} waiting"
              + (f", error: {item.error}" if item.error else ""))
    return 0


def _cmd_legacy_register(args: argparse.Namespace) -> int:
    from pipeline.governance.registry import Attachment

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
    from pipeline.backends import open_store
    from pipeline.curated.compactor import compact

    hour = _hour(args.hour) if args.hour is not None else None
    report = compact(open_store(_settings(args)), hour=hour, progress=_progress("partitions"))
    print(f"raw objects read: {report.raw_objects_read}, events: {report.events_in}, duplicates "
          f"dropped: {report.duplicates_dropped}, rejected: {report.events_rejected}, partitions "
          f"written: {len(report.partitions_written)}, quarantined: {len(report.quarantined_objects)}")
    for key in report.quarantined_objects:
        print(f"quarantined: {key}")
    return 0


def _cmd_rollup(args: argparse.Namespace) -> int:
    from pipeline.backends import open_store
    from pipeline.reporting.rollups import build_rollups

    day = parse_date(args.date, "--date") if args.date is not None else None
    report = build_rollups(open_store(_settings(args)), day=day, progress=_progress("days"))
    print(f"days built: {len(report.days_built)}, unchanged: {report.days_fresh}, files written: "
          f"{report.files_written}, sessions: {report.sessions}")
    return 0


def _hour(text: str) -> datetime:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}", text):
        try:
            return datetime.strptime(text, "%Y-%m-%dT%H")
        except ValueError:
            pass
    raise ValueError(f"--hour must look like 2026-11-25T10 (YYYY-MM-DDTHH, UTC), not {text!r}")


def _known_org(settings: Settings, text: str) -> str:
    """An organization the registry knows: a typo is an error, not a report of zeros."""
    org = check_slug(text, "organization")
    if _registry(settings).get(org) is None:
        raise ValueError(f"no organization named {org!r} (see `percus org create`)")
    return org


# `percus report NAME`: the reports of GET /analytics/v1/reports/NAME, their parameters as options.
_REPORT_HELP = {
    "summary": "the summary metrics of an organization: views, plays, completion rate, CTA click-through, "
               "errors…",
    "dropoff": "the drop-off: plays reaching 25, 50, 75 and 100 percent of the video",
    "ctas": "the CTA funnel: views, plays, views with a click, overall and per CTA",
    "chapters": "chapter reach: plays that entered each chapter",
    "breakdown": "session metrics per device type, OS, browser, locale or country",
    "errors": "the top error codes",
    "live": "sessions started in the last N minutes (default 60): their metrics and error spikes",
}
_REPORT_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {  # API parameter -> option
    "organization_id": ("--org", {"dest": "org", "required": True, "help": "organization id"}),
    "project_id": ("--project", {"dest": "project", "metavar": "P"}),
    "template_id": ("--template", {"dest": "template", "metavar": "T"}),
    "from": ("--from", {"dest": "date_from", "metavar": "YYYY-MM-DD"}),
    "to": ("--to", {"dest": "date_to", "metavar": "YYYY-MM-DD"}),
    "include_bots": ("--include-bots", {"dest": "include_bots", "action": "store_true"}),
    "dimension": ("--dimension", {"dest": "dimension", "required": True}),
    "minutes": ("--minutes", {"dest": "minutes", "metavar": "N", "default": "60"}),
}
# A breakdown row holds every summary metric: its table shows these.
_ROW_COLUMNS = {"breakdown": ("value", "views", "share", "plays", "completion_rate", "cta_ctr",
                              "playback_failure_rate")}


def _cmd_report(args: argparse.Namespace) -> int:
    from gateway.reports_api import run_report
    from pipeline.backends import open_store
    from pipeline.query import open_engine

    settings = _settings(args)
    ids = {name: parse_slug(given, label) for name, label, given in (
        ("project_id", "project", args.project), ("template_id", "template", args.template))
        if given is not None}
    options: dict[str, Any] = {}
    if args.report == "live":
        options["minutes"] = parse_minutes(args.minutes, "--minutes")
        date_from = date_to = None
    else:
        date_from, date_to = parse_range(args.date_from, args.date_to, names=("--from", "--to"))
    if args.report == "breakdown":
        options["dimension"] = args.dimension
    org = _known_org(settings, args.org)
    selection = Selection(date_from=date_from, date_to=date_to, include_bots=args.include_bots, **ids)
    result = run_report(args.report, open_engine(settings, open_store(settings)), org, selection, options)
    if args.format == "json":  # the `result` of the API's answer, key for key
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        _print_report(args.report, result)
    return 0


def _print_report(name: str, result: dict[str, Any]) -> None:
    """A report as text: its headline numbers one a line, then each list of rows as a table."""
    from pipeline.reporting import metrics

    fractions = {metric.name for metric in (*metrics.SUMMARY, *metrics.PER_ITEM) if metric.unit == "fraction"}
    fractions |= {"fraction", "share"}

    def cell(key: str, value: object) -> str:
        if value is None:
            return "(unknown)" if key in ("value", "error_code") else "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if key in fractions and isinstance(value, int | float):
            return f"{value:.1%}"
        return str(value)

    headline = {key: value for key, value in result.items() if not isinstance(value, list)}
    width = max(map(len, headline), default=0)
    for key, value in headline.items():
        print(f"{key:<{width}}  {cell(key, value)}")
    for key, rows in result.items():
        if not isinstance(rows, list):
            continue
        print(f"\n{key}:")
        if not rows:
            print("  (none)")
            continue
        columns = _ROW_COLUMNS.get(name, tuple(rows[0]))
        cells = [[cell(column, row[column]) for column in columns] for row in rows]
        widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
        numeric = [any(isinstance(row[column], int | float) and not isinstance(row[column], bool)
                       for row in rows) for column in columns]
        for line in (list(columns), *cells):
            print("  " + "  ".join(text.rjust(w) if right else text.ljust(w)
                                   for text, w, right in zip(line, widths, numeric, strict=True)).rstrip())


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
    from pipeline.backends import open_store
    from pipeline.query import open_engine
    from pipeline.reporting import exports

    settings = _settings(args)
    store = open_store(settings)
    engine = open_engine(settings, store)
    org = check_slug(args.org, "organization")
    if _registry(settings).get(org) is None:
        raise ValueError(f"unknown organization {org!r}")
    date_from, date_to = parse_range(args.date_from, args.date_to, names=("--from", "--to"))
    selection = Selection(project_id=args.project, template_id=args.template, date_from=date_from,
                          date_to=date_to, include_bots=args.include_bots)
    actor = _actor()
    if args.out:
        rows = exports.save_export(store, engine, org, selection, args.out, kind=args.kind, actor=actor)
        print(f"wrote {rows} rows to {args.out}", file=sys.stderr)
        return 0
    made = exports.create_export(store, engine, org, selection, kind=args.kind, actor=actor)
    local = store.local_path(made.key)
    print(local if local is not None else store.download_url(made.key, exports.URL_TTL_SECONDS))
    print(f"{made.rows} rows in {made.key}", file=sys.stderr)
    return 0


def _cmd_dsar_delete(args: argparse.Namespace) -> int:
    from pipeline.backends import open_store
    from pipeline.governance.dsar import delete_viewer
    from pipeline.governance.viewer_keys import load_viewer_keys

    settings = _settings(args)
    # Only the embedded default keeps its viewer key in the data dir; elsewhere it is configured.
    local = settings.store.startswith("file://")
    keys = load_viewer_keys(data_dir=settings.data_dir if local else None)
    org = check_slug(args.org, "organization")
    _warn_unregistered(settings, org, "the deletion still searches its events")
    report = delete_viewer(open_store(settings), org, args.viewer_hash,
                           keys=keys, progress=_progress("objects"), actor=_actor())
    print(f"request {report.request_id}{' (resumed)' if report.resumed else ''}: removed "
          f"{report.count('raw')} raw lines, {report.count('quarantine')} quarantined lines, "
          f"{report.count('curated')} curated rows, {report.count('viewers')} viewer rollup rows; "
          f"{len(report.removed)} objects changed ({len(report.deleted)} deleted), rollup days rebuilt: "
          f"{', '.join(day.isoformat() for day in report.rollup_days_rebuilt) or 'none'}")
    return 0


def _cmd_retention_apply(args: argparse.Namespace) -> int:
    from pipeline.backends import open_store
    from pipeline.governance.registry import OrganizationRegistry
    from pipeline.governance.retention import apply_retention

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

    from pipeline.backends import open_store
    from pipeline.governance import audit

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
                parent: argparse._SubParsersAction[argparse.ArgumentParser] = commands
                ) -> argparse.ArgumentParser:
        sub = parent.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        sub.add_argument("--data-dir", type=Path, help="data directory (default: $PERCUS_DATA_DIR "
                         "or ./percus-data)")
        return sub

    serve = command("serve", _cmd_serve, "run the gateway with the background writer on the embedded "
                    "default")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
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

    from gateway.report_params import DIMENSIONS, REPORTS

    report = commands.add_parser("report", help="engagement reports: the numbers of the reports API"
                                 ).add_subparsers(dest="sub", required=True)
    for name, accepted in REPORTS.items():
        one = command(name, _cmd_report, _REPORT_HELP[name], report)
        one.set_defaults(report=name)
        for param in accepted:
            flag, options = _REPORT_FLAGS[param.name]
            extra = {"choices": DIMENSIONS} if param.name == "dimension" else {}
            one.add_argument(flag, **{"help": param.description.replace("%", "%%"), **extra, **options})
        one.add_argument("--format", choices=("table", "json"), default="table",
                         help="table (default) or JSON: the `result` of the API's answer")

    org = commands.add_parser("org", help="organizations and their reporting API keys").add_subparsers(
        dest="sub", required=True)
    create = command("create", _cmd_org_create, "create an organization", org)
    create.add_argument("org", help="organization id")
    create.add_argument("--retention-days", type=_days, metavar="N",
                        help="override the zones' default retention")
    create.add_argument("--legacy-group-key", action="append", metavar="KEY",
                        help="an Individeo trackerGroupKey that posts for this organization (repeatable)")
    org_set = command("set", _cmd_org_set, "change an organization's retention override (audited as "
                      "org.settings_changed)", org)
    org_set.add_argument("org", help="organization id")
    retention_choice = org_set.add_mutually_exclusive_group(required=True)
    retention_choice.add_argument("--retention-days", type=_days, metavar="N",
                                  help="keep its viewer-level data at most N days")
    retention_choice.add_argument("--no-retention-override", action="store_true",
                                  help="back to the zones' default retention")
    key = command("key", _cmd_org_key, "create (print once) or revoke a reporting API key", org)
    key.add_argument("org", help="organization id")
    key.add_argument("--revoke", metavar="KEY_ID", help="revoke the key with this id instead")
    org_digest = command("digest", _cmd_org_digest, "show or set the weekly digest: who receives it, or "
                         "opt out", org)
    org_digest.add_argument("org", help="organization id")
    digest_choice = org_digest.add_mutually_exclusive_group()
    digest_choice.add_argument("--digest-to", action="append", metavar="EMAIL",
                               help="opt in and send it to this address (repeatable; replaces the list)")
    digest_choice.add_argument("--no-digest", action="store_true",
                               help="opt out (the recipients are kept for a later opt-in)")

    webhook = command("webhook", _cmd_org_webhook, "set, show, disable an organization's webhook endpoint "
                      "or rotate its signing secret (printed once)", org)
    webhook.add_argument("org", help="organization id")
    webhook.add_argument("--url", help="the endpoint (https://…; http:// only for a loopback host); "
                         "enables it")
    webhook.add_argument("--rotate-secret", action="store_true", help="a new signing secret (the old one "
                         "keeps signing for 24 hours)")
    webhook.add_argument("--disable", action="store_true", help="stop delivering (waiting batches are kept)")
    webhook.add_argument("--since", metavar="YYYY-MM-DD[THH:MM]", help="with --url: deliver events received "
                         "from then on (UTC; default: from now, or as before for an enabled webhook)")

    hooks = commands.add_parser("webhook", help="webhook delivery: run it now, dead letters").add_subparsers(
        dest="sub", required=True)
    dead = command("dead-letters", _cmd_webhook_dead_letters, "list the batches that failed for good", hooks)
    dead.add_argument("--org", help="only this organization's")
    dead.add_argument("--format", choices=("table", "json"), default="table")
    redrive = command("redrive", _cmd_webhook_redrive, "put dead-lettered batches back in the outbox, with "
                      "fresh attempts", hooks)
    redrive.add_argument("--org", required=True)
    redrive.add_argument("--batch", action="append", metavar="ID", help="a batch id (repeatable)")
    redrive.add_argument("--all", action="store_true", help="every dead-lettered batch of the organization")
    deliver = command("deliver", _cmd_webhook_deliver, "collect and send what is due now (what `percus "
                      "serve` does every tick)", hooks)
    deliver.add_argument("--org", help="only this organization")

    admin = commands.add_parser("admin", help="admin keys (every organization's reports and dashboard)"
                                ).add_subparsers(dest="sub", required=True)
    admin_key = command("key", _cmd_admin_key, "create (print once) or revoke an admin key", admin)
    admin_key.add_argument("--revoke", metavar="KEY_ID", help="revoke the admin key with this id instead")

    digest = command("digest", _cmd_digest, "the weekly PDF digest of an organization: write it to a "
                     "file, or --send it to the organization's digest recipients now")
    digest.add_argument("--org", required=True)
    digest.add_argument("--week", metavar="YYYY-Www", help="ISO week, e.g. 2026-W48 (default: the last "
                        "complete week, UTC)")
    digest_output = digest.add_mutually_exclusive_group()
    digest_output.add_argument("--out", type=Path, metavar="FILE.pdf", help="where to write it (default: "
                               "percus-digest-ORG-WEEK.pdf here)")
    digest_output.add_argument("--send", action="store_true", help="deliver it (outbox or SES, as "
                               "PERCUS_MAIL says) and record it, even if the schedule sent that week")

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
    except OSError as exc:  # a file or directory the command cannot use (--out, the data dir)
        where = f": {exc.filename}" if exc.filename else ""
        print(f"percus: error: {exc.strerror or exc}{where}", file=sys.stderr)
        sys.exit(1)
