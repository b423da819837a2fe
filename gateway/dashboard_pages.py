"""What the dashboard's pages show: the report results each page needs, the charts laid out from them
and the overview's health badge, rendered by the jinja2 templates. The routes, the session and the
links between pages are `gateway/dashboard.py`'s."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2

from gateway import exports_api, report_params
from gateway.api_keys import Principal
from gateway.errors import ApiError
from gateway.services import Services
from gateway.tokens import DEFAULT_TTL_SECONDS, issue_token
from pipeline import layout
from pipeline.reporting import exports, outcomes, projects, reports
from pipeline.reporting.charts import Axis, Item, bars, columns, dropoff_chart, engagement_chart
from pipeline.reporting.formatting import (
    FILTERS,
    MISSING,
    change,
    count,
    count_and_share,
    label,
    share,
    shown,
)
from pipeline.reporting.names import Names
from pipeline.reporting.selection import Selection, parse_range, parse_slug

REFRESH_SECONDS = 60
RANGE_DAYS = 30  # the default range of the project and overview pages, today included
PRESET_DAYS = (7, 30, 90)  # the project page's "last N days" links, today included
COMPARED = ("views", "unique_viewers", "play_rate", "completion_rate", "avg_max_percent", "cta_ctr", "errors")
# The waiting page's ready token: the CLI's default lifetime (docs/dashboard.md, First steps); an
# integration that outlives it takes a token issued for its own lifetime (`percus token issue --ttl`).
FIRST_TOKEN_TTL_SECONDS = DEFAULT_TTL_SECONDS
FIRST_PROJECT = "first-video"  # the waiting page's default project id
POLL_SECONDS = 3  # how often the waiting page asks whether the first event is counted
TOP_ROWS = 8  # rows per breakdown chart; the rest are counted below it
MAX_PROJECTS = 50  # projects listed on the live page (each is one summary query)
DEVICE_DIMENSIONS = (("device_type", "Devices"), ("locale", "Locales"), ("country", "Countries"))
# Health thresholds of the overview (docs/dashboard.md).
LOW_PLAY_RATE = 0.30
LOW_COMPLETION_RATE = 0.25
HIGH_FAILURE_RATE = 0.05
COHORT_LABELS = {"not_viewed": "Sent, never viewed", "viewed_not_played": "Viewed, never played",
                 "played_under_25": "Played under 25 %", "played_25_74": "Played 25–74 %",
                 "played_75_99": "Played 75–99 %", "completed": "Completed"}
PAGE_EXPORT_KINDS = ("events", "summary")  # a project's page: outcomes belong to no project


@functools.cache
def templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters.update(FILTERS, project_label=project_label)
    return environment


def render(name: str, **context: Any) -> str:
    return templates().get_template(name).render({"refresh": None, **context})


def project_label(row: Mapping[str, Any]) -> str:
    """A project as the page names it: its name when the data carries one, else its id."""
    return str(row.get("project_name") or row["project_id"])


@dataclass(frozen=True)
class Preset:
    days: int
    date_from: date
    date_to: date
    active: bool


def presets(today: date, date_from: date, date_to: date) -> list[Preset]:
    """The project page's "last N days" ranges, each ending today; the one shown is marked active."""
    return [Preset(days, today - timedelta(days=days - 1), today,
                   (date_from, date_to) == (today - timedelta(days=days - 1), today)) for days in PRESET_DAYS]


@dataclass(frozen=True)
class Comparison:
    text: str  # "+12 % vs previous 7 days"
    title: str  # the previous period's dates and value


def previous_period(date_from: date, date_to: date) -> tuple[date, date]:
    """The range as long as this one that ends the day before it starts."""
    before = date_from - timedelta(days=1)
    return before - (date_to - date_from), before


def comparisons(summary: Mapping[str, Any], previous: Mapping[str, Any], first: date,
                last: date) -> dict[str, Comparison]:
    """The tiles' changes against the previous period, as the weekly digest words them."""
    days = (last - first).days + 1
    period = f"previous {days} days" if days > 1 else "previous day"
    compared = {}
    for name in COMPARED:
        changed = change(name, summary[name], previous[name])
        text = f"no data in the {period}" if changed == MISSING else f"{changed} vs {period}"
        compared[name] = Comparison(text, f"{first} – {last}: {shown(name, previous[name])}")
    return compared


@dataclass(frozen=True)
class Health:
    status: str  # healthy, low, errors, idle (the badge's CSS class)
    label: str


def health(summary: Mapping[str, Any], live: Mapping[str, Any]) -> Health:
    """How an organization's last 30 days look, for the overview (thresholds: docs/dashboard.md)."""
    if not summary["views"]:
        return Health("idle", "no views")
    if live["error_spike"] or (summary["playback_failure_rate"] or 0) >= HIGH_FAILURE_RATE:
        return Health("errors", "errors")
    if (summary["play_rate"] or 0) < LOW_PLAY_RATE or (summary["completion_rate"] or 0) < LOW_COMPLETION_RATE:
        return Health("low", "low engagement")
    return Health("healthy", "healthy")


class Pages:
    """The pages' contents (blocking: run from a worker thread)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def _readable(self, principal: Principal, org: str) -> None:
        if not principal.may_read(org):
            raise ApiError(403, "organization_forbidden", "this key opens its own organization's pages only")
        if principal.is_admin and not self._exists(org):
            raise ApiError(404, "unknown_organization", f"there is no organization {org!r}")

    def _exists(self, org: str) -> bool:
        try:
            return self.services.registry.get(org) is not None
        except ValueError:  # not even a well-formed organization id
            return False

    def has_events(self, principal: Principal, org: str) -> bool:
        """Whether any event of the organization is counted yet (compacted, so the reports see it)."""
        self._readable(principal, org)
        return next(iter(self.services.registry.store.list(layout.CURATED.org_prefix(org))), None) is not None

    def waiting(self, principal: Principal, org: str, project: str, *, base_url: str, status_path: str,
                script_path: str) -> str:
        """An organization without data: its install snippet with a ready share token, and a page that
        switches to the live view once the first event is counted."""
        self._readable(principal, org)
        with report_params.refusal():
            parse_slug(project, "project")
        now = datetime.now(UTC)
        token = issue_token(self.services.settings.token_keys, org, project, ttl=FIRST_TOKEN_TTL_SECONDS,
                            now=now.timestamp())
        return render("waiting.html", principal=principal, org=org, project=project, token=token,
                      base_url=base_url.rstrip("/"), status_path=status_path, script_path=script_path,
                      expires=(now + timedelta(seconds=FIRST_TOKEN_TTL_SECONDS)).strftime("%Y-%m-%d %H:%M"),
                      ttl_days=FIRST_TOKEN_TTL_SECONDS // 86400, poll_ms=POLL_SECONDS * 1000)

    def live(self, principal: Principal, org: str, *, include_archived: bool = False) -> str:
        """The live and 30-day project lists, archived projects left out unless `include_archived`."""
        self._readable(principal, org)
        engine, now = self.services.engine, datetime.now(UTC)
        overall = reports.live(engine, org, now=now)
        names = Names.read(engine.store, org)
        campaigns = [{"project_id": project, "project_name": names.name("project_id", project),
                      "archived": project in names.archived,
                      **reports.live(engine, org, Selection(project_id=project), now=now)}
                     for project in projects.live_project_ids(engine, org, now=now, names=names,
                                                              include_archived=include_archived)]
        first, today = now.date() - timedelta(days=RANGE_DAYS - 1), now.date()
        recent = projects.project_ids(engine, org, first, today, include_archived=include_archived,
                                      names=names)
        listed = [{"project_id": project, "project_name": names.name("project_id", project),
                   "archived": project in names.archived,
                   **reports.summary(engine, org, Selection(project_id=project, date_from=first,
                                                            date_to=today))}
                  for project in recent[:MAX_PROJECTS]]
        buckets = [Item(bucket["start"][11:16], bucket["errors"], count(bucket["errors"]))
                   for bucket in overall["errors_per_bucket"]]
        return render(
            "live.html", principal=principal, org=org, overall=overall, campaigns=campaigns, listed=listed,
            unlisted=len(recent) - len(listed), first=first, today=today, refresh=REFRESH_SECONDS,
            include_archived=include_archived, any_archived=bool(names.archived),
            sessions_chart=bars(f"{label('views')} started in the last 60 minutes, by campaign",
                                [Item(project_label(live), live["views"], count(live["views"]))
                                 for live in campaigns], Axis("views")),
            errors_chart=columns(f"{label('errors_per_bucket')} (UTC, by clock time), last 60 minutes",
                                 buckets, Axis("errors"), label_every=2),
        )

    def project(self, principal: Principal, org: str, project: str, date_from: date, date_to: date, *,
                export_path: str) -> str:
        self._readable(principal, org)
        engine = self.services.engine
        selection = Selection(project_id=project, date_from=date_from, date_to=date_to)
        summary = reports.summary(engine, org, selection)
        first, last = previous_period(date_from, date_to)
        previous = reports.summary(engine, org, Selection(project_id=project, date_from=first, date_to=last))
        dropoff = reports.dropoff(engine, org, selection)
        engagement = reports.engagement(engine, org, selection)
        ctas = reports.ctas(engine, org, selection)
        errors = reports.errors(engine, org, selection)
        breakdowns = [(dimension, title, reports.breakdown(engine, org, dimension, selection))
                      for dimension, title in DEVICE_DIMENSIONS]
        views = ctas["views"]
        funnel_chart = bars("CTA funnel: views, plays, views with a CTA click", [
            Item(label("views"), views, count(views)),
            Item(label("plays"), ctas["plays"], count(ctas["plays"])),
            Item(label("cta_sessions"), ctas["cta_sessions"],
                 count_and_share(ctas["cta_sessions"], ctas["cta_ctr"])),
        ], Axis("views"), scale=views)
        cta_chart = bars("Views that clicked each CTA", [
            Item(row["cta_name"] or row["cta_id"], row["sessions"],
                 count_and_share(row["sessions"], row["cta_ctr"]))
            for row in ctas["ctas"][:TOP_ROWS]], Axis("views"), scale=views)
        error_chart = bars("Errors by code", [
            Item(row["error_code"] or "unknown", row["errors"], count(row["errors"]))
            for row in errors["codes"][:TOP_ROWS]], Axis("errors"))
        breakdown_charts = [(dimension, title, result, bars(f"Views by {title.lower()}", [
            Item(row["value"] or "unknown", row["views"], count_and_share(row["views"], row["share"]))
            for row in result["rows"][:TOP_ROWS]], Axis("views"))) for dimension, title, result in breakdowns]
        business = [outcomes.outcomes(engine, org, name, selection)
                    for name in outcomes.outcome_names(engine, org, date_from, date_to)]
        return render(
            "project.html", principal=principal, org=org, project=project,
            project_name=project_label({"project_id": project, "project_name": Names.read(
                engine.store, org).name("project_id", project)}), date_from=date_from,
            date_to=date_to, summary=summary, presets=presets(datetime.now(UTC).date(), date_from, date_to),
            compared=comparisons(summary, previous, first, last), dropoff=dropoff, ctas=ctas, errors=errors,
            top_rows=TOP_ROWS, dropoff_chart=dropoff_chart(dropoff), engagement=engagement,
            engagement_chart=engagement_chart(engagement), funnel_chart=funnel_chart, cta_chart=cta_chart,
            error_chart=error_chart, breakdown_charts=breakdown_charts, export_path=export_path,
            outcomes=business, cohort_labels=COHORT_LABELS)

    def overview(self, principal: Principal) -> str:
        if not principal.is_admin:
            raise ApiError(403, "admin_only", "the cross-organization overview needs an admin key")
        engine, now = self.services.engine, datetime.now(UTC)
        first, today = now.date() - timedelta(days=RANGE_DAYS - 1), now.date()
        rows = []
        for organization in self.services.registry.list():
            org = organization.organization_id
            summary = reports.summary(engine, org, Selection(date_from=first, date_to=today))
            live = reports.live(engine, org, now=now)
            rows.append((org, summary, live, health(summary, live)))
        chart = bars(f"{label('completion_rate')}, last 30 days", [
            Item(org, summary["completion_rate"] or 0, share(summary["completion_rate"]))
            for org, summary, _, _ in rows], Axis("of plays", fraction=True), scale=1, width=760)
        return render("overview.html", principal=principal, rows=rows, chart=chart, first=first, today=today)

    def export(self, principal: Principal, org: str, project: str, form: Mapping[str, str],
               base_url: str, *, project_path: str) -> str:
        self._readable(principal, org)
        with report_params.refusal():
            parse_slug(project, "project_id")
            date_from, date_to = parse_range(form.get("from", ""), form.get("to", ""))
        kind = form.get("kind", "events")
        if kind not in PAGE_EXPORT_KINDS:
            raise ApiError(400, "invalid_parameter", f"kind must be one of {', '.join(PAGE_EXPORT_KINDS)}",
                           "kind")
        selection = Selection(project_id=project, date_from=date_from, date_to=date_to)
        store = self.services.registry.store
        made = exports.create_export(store, self.services.engine, org, selection, kind=kind,
                                     actor=f"dashboard:{principal.actor}")
        signer = exports_api.url_signer(self.services.settings.token_keys)
        url = exports_api.download_url(signer, store, made, base_url)
        return render("export.html", principal=principal, org=org, project=project, made=made, url=url,
                      selection=selection, back=f"{project_path}?from={date_from}&to={date_to}", kind=kind)
