"""`percus report NAME`: the reports of GET /analytics/v1/reports/NAME, their parameters as options."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from gateway.report_params import DIMENSIONS, REPORTS
from percus.cli import shared
from pipeline.config import Settings
from pipeline.reporting import formatting
from pipeline.reporting.selection import (
    Selection,
    parse_attribution_days,
    parse_minutes,
    parse_range,
    parse_slug,
)
from translator.ids import check_slug

if TYPE_CHECKING:
    from percus.cli.shared import Commands

_HELP = {
    "summary": "the summary metrics of an organization: views, plays, completion rate, CTA click-through, "
               "errors…",
    "dropoff": "the drop-off: plays reaching 25, 50, 75 and 100 percent of the video",
    "ctas": "the CTA funnel: views, plays, views with a click, overall and per CTA",
    "chapters": "chapter reach: plays that entered each chapter",
    "breakdown": "session metrics per device type, OS, browser, locale or country",
    "errors": "the top error codes",
    "engagement": "the engagement curve: per 1 percent of the video, the plays that watched it and watched "
                  "it again",
    "live": "sessions started in the last N minutes (default 60): their metrics and error spikes",
    "outcomes": "business outcomes per engagement cohort and per CTA: people, conversions, value, median "
                "days to convert",
    "projects": "the projects with sessions in the range, with their names and session metrics (archived "
                "ones with --include-archived)",
}
FLAGS: dict[str, tuple[str, dict[str, Any]]] = {  # API parameter -> option
    "organization_id": ("--org", {"dest": "org", "required": True, "help": "organization id"}),
    "project_id": ("--project", {"dest": "project", "metavar": "P"}),
    "template_id": ("--template", {"dest": "template", "metavar": "T"}),
    "from": ("--from", {"dest": "date_from", "metavar": "YYYY-MM-DD"}),
    "to": ("--to", {"dest": "date_to", "metavar": "YYYY-MM-DD"}),
    "include_bots": ("--include-bots", {"dest": "include_bots", "action": "flag"}),
    "dimension": ("--dimension", {"dest": "dimension", "required": True}),
    "minutes": ("--minutes", {"dest": "minutes", "metavar": "N", "default": "60"}),
    "name": ("--name", {"dest": "name", "required": True, "metavar": "OUTCOME"}),
    "audience": ("--audience", {"dest": "audience", "metavar": "NAME"}),
    "attribution_days": ("--attribution-days", {"dest": "attribution_days", "metavar": "N", "default": "30"}),
    "include_archived": ("--include-archived", {"dest": "include_archived", "default": False,
                                                "action": argparse.BooleanOptionalAction}),
}
# A breakdown row holds every summary metric: its table shows these.
_ROW_COLUMNS = {"breakdown": ("value", "views", "share", "plays", "completion_rate", "cta_ctr",
                              "playback_failure_rate"),
                "engagement": ("bucket", "watched_share", "watched_again_share", "watched", "watched_again"),
                "projects": ("project_id", "project_name", "archived", "views", "plays", "completion_rate",
                             "cta_ctr")}


def add(commands: Commands) -> None:
    report = shared.group(commands, "report", "engagement reports: the numbers of the reports API")
    for name, accepted in REPORTS.items():
        one = shared.command(report, name, run, _HELP[name])
        one.set_defaults(report=name)
        for param in accepted:
            flag, options = FLAGS[param.name]
            described = param.description.replace("%", "%%")
            if options.get("action") == "flag":
                shared.flag(one, flag, described, **{key: value for key, value in options.items()
                                                     if key != "action"})
                continue
            extra = {"choices": DIMENSIONS} if param.name == "dimension" else {}
            one.add_argument(flag, **{"help": described, **extra, **options})
        shared.format_option(one, json_text="the `result` of the API's answer, key for key")


def run(args: argparse.Namespace) -> int:
    from gateway.reports_api import run_report
    from pipeline.backends import open_store
    from pipeline.query import open_engine
    from pipeline.reporting.names import Names

    settings = shared.settings(args)
    ids = {name: parse_slug(given, label) for name, label, given in (
        ("project_id", "project", getattr(args, "project", None)), ("template_id", "template", args.template))
        if given is not None}
    options: dict[str, Any] = {}
    if args.report == "live":
        options["minutes"] = parse_minutes(args.minutes, "--minutes")
        date_from = date_to = None
    else:
        date_from, date_to = parse_range(args.date_from, args.date_to, names=("--from", "--to"))
    if args.report == "breakdown":
        options["dimension"] = args.dimension
    if args.report == "outcomes":
        options["name"] = parse_slug(args.name, "--name")
        if args.audience is not None:
            options["audience"] = parse_slug(args.audience, "--audience")
        options["attribution_days"] = parse_attribution_days(args.attribution_days, "--attribution-days")
    if args.report == "projects":
        options["include_archived"] = args.include_archived
    org = _known_org(settings, args.org)
    selection = Selection(date_from=date_from, date_to=date_to, include_bots=args.include_bots, **ids)
    engine = open_engine(settings, open_store(settings))
    result = run_report(args.report, engine, org, selection, options)
    if args.format == "json":  # the `result` of the API's answer, key for key
        shared.print_json(result, indent=2)
    else:  # the project and template asked for first, named
        _print_report(args.report, {**Names.read(engine.store, org).label(ids), **result})
    return 0


def _known_org(settings: Settings, text: str) -> str:
    """An organization the registry knows: a typo is an error, not a report of zeros."""
    org = check_slug(text, "organization")
    if shared.registry(settings).get(org) is None:
        raise ValueError(f"no organization named {org!r} (see `percus org create`)")
    return org


def _print_report(name: str, result: dict[str, Any]) -> None:
    """A report as text: its headline numbers one a line, then each list of rows as a table, under
    human headers and in units (pipeline/reporting/formatting.py)."""
    shared.print_values({key: value for key, value in result.items() if not isinstance(value, list)})
    # A breakdown's `value` is the dimension's (a country…); None is a value nobody sent.
    headers = {"value": formatting.label(result["dimension"])} if name == "breakdown" else {}
    for key, rows in result.items():
        if not isinstance(rows, list):
            continue
        title = (f"By {formatting.label(result['dimension']).lower()}" if name == "breakdown"
                 else formatting.label(key))
        print(f"\n{title}:")
        shown = [{column: _shown(column, value) for column, value in row.items()} for row in rows]
        shared.print_table(shown, _ROW_COLUMNS.get(name) or (list(rows[0]) if rows else []), headers=headers)


def _shown(column: str, value: object) -> object:
    """A row's value as the dashboard names it: a cohort by its label; a dimension value or error code
    nobody sent as (unknown)."""
    from gateway.dashboard_pages import COHORT_LABELS

    if value is None and column in ("value", "error_code"):
        return "(unknown)"
    return COHORT_LABELS.get(value, value) if column == "cohort" and isinstance(value, str) else value
