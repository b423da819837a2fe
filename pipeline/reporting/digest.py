"""The weekly PDF digest of an organization (the reports' summary, drop-off and breakdown of an ISO
week, rendered from `templates/digest.html` by WeasyPrint) and its delivery to the organization's
recipients, once a week. What it shows and when it goes: docs/operations.md (Weekly PDF digest).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import layout
from pipeline.governance import audit
from pipeline.governance.registry import OrganizationRegistry, RegistryError
from pipeline.mail.base import Mailer, compose
from pipeline.query.base import QueryEngine
from pipeline.reporting import outcomes, reports
from pipeline.reporting.charts import dropoff_chart
from pipeline.reporting.formatting import FILTERS, change, count, label, share, shown
from pipeline.reporting.selection import Selection
from pipeline.store.base import Store
from translator.canonical import format_timestamp
from translator.ids import check_slug

if TYPE_CHECKING:
    import jinja2

log = logging.getLogger(__name__)

STATE = layout.DIGEST_STATE.prefix
# The schedule sends on Monday at 07:00 UTC: the week's last day is then 7 hours old, its late
# events compacted (deploy/template.py schedules the Lambda at the same time).
SEND_DELAY = timedelta(hours=7)
TOP_ROWS = 5  # rows of the projects, devices and locales tables
HEADLINES = tuple((name, label(name)) for name in ("views", "unique_viewers", "completion_rate", "cta_ctr"))
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class DigestError(ValueError):
    """A digest that cannot be made or sent as asked (no recipients, a week not over yet, …)."""


@dataclass(frozen=True, order=True)
class Week:
    """An ISO week (Monday to Sunday), as UTC days."""

    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Week:
        match = _WEEK.fullmatch(text.strip())
        if not match:
            raise DigestError(f"a week is written YYYY-Www, e.g. 2026-W48, not {text!r}")
        year, number = int(match[1]), int(match[2])
        try:
            date.fromisocalendar(year, number, 1)
        except ValueError:
            raise DigestError(f"{year} has no ISO week {number:02d} (weeks run 01-52, or 53 in long years)"
                              ) from None
        return cls(year, number)

    @classmethod
    def of(cls, day: date) -> Week:
        year, number, _ = day.isocalendar()
        return cls(year, number)

    @classmethod
    def last_complete(cls, now: datetime) -> Week:
        """The last ISO week that was over at `now` (UTC)."""
        return cls.of(now.astimezone(UTC).date()).previous

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def previous(self) -> Week:
        return Week.of(self.monday - timedelta(days=7))

    @property
    def ends_at(self) -> datetime:
        return datetime.combine(self.monday + timedelta(days=7), datetime.min.time(), UTC)

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    def __str__(self) -> str:
        return self.label


def due_week(now: datetime) -> Week:
    """The week the schedule sends at `now`: the last one over, once it has been over SEND_DELAY."""
    return Week.last_complete(now - SEND_DELAY)


# -- content ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """What a digest shows: report results, as the reports API returns them."""

    organization_id: str
    week: Week
    summary: dict[str, Any]  # reports.summary of the week
    previous: dict[str, Any]  # reports.summary of the week before
    dropoff: dict[str, Any]
    devices: dict[str, Any]  # reports.breakdown by device_type
    locales: dict[str, Any]  # reports.breakdown by locale
    # The outcomes report of the week's most frequent outcome name, when the organization posts any.
    outcomes: tuple[dict[str, Any], ...] = ()
    # The week's projects, most viewed first, with their names (reports.projects, archived ones too:
    # their views are in the week's totals).
    projects: tuple[dict[str, Any], ...] = ()

    @property
    def has_views(self) -> bool:
        return bool(self.summary["views"])


def gather(engine: QueryEngine, org: str, week: Week, *, today: date | None = None) -> Figures:
    days = Selection(date_from=week.monday, date_to=week.sunday)
    before = Selection(date_from=week.previous.monday, date_to=week.previous.sunday)
    return Figures(
        organization_id=org, week=week,
        summary=reports.summary(engine, org, days, today=today),
        previous=reports.summary(engine, org, before, today=today),
        dropoff=reports.dropoff(engine, org, days, today=today),
        devices=reports.breakdown(engine, org, "device_type", days, today=today),
        locales=reports.breakdown(engine, org, "locale", days, today=today),
        outcomes=tuple(outcomes.outcomes(engine, org, name, days, today=today)
                       for name in outcomes.outcome_names(engine, org, week.monday, week.sunday, most=1)),
        projects=tuple(reports.projects(engine, org, days, include_archived=True, today=today)["projects"]))


@dataclass(frozen=True)
class Headline:
    name: str
    label: str
    value: str
    previous: str
    change: str


def headlines(figures: Figures) -> list[Headline]:
    return [Headline(name, label, shown(name, figures.summary[name]), shown(name, figures.previous[name]),
                     change(name, figures.summary[name], figures.previous[name]))
            for name, label in HEADLINES]


def project_label(row: dict[str, Any]) -> str:
    """A project as the digest names it: its name and id ("Spring launch (spring-launch)"), or its id
    when the platform never named it; "archived" when it is."""
    label = f"{row['project_name']} ({row['project_id']})" if row["project_name"] else row["project_id"]
    return f"{label}, archived" if row["archived"] else label


def outcome_line(result: dict[str, Any]) -> str:
    """One line on an outcome: the week's viewers who converted so far (their windows are still open),
    and the rates of those who completed and of those who never played."""
    by_cohort = {row["cohort"]: row for row in result["cohorts"]}
    return (f"{result['name']}: {count(result['converted'])} of {count(result['people'])} viewers of the "
            f"week converted within {result['attribution_days']} days so far "
            f"({share(result['conversion_rate'])}); "
            f"{share(by_cohort['completed']['conversion_rate'])} of those who completed, "
            f"{share(by_cohort['viewed_not_played']['conversion_rate'])} of those who never played. "
            "A correlation, not the video's effect.")


def _days(week: Week) -> str:
    monday, sunday = week.monday, week.sunday
    start = f"{monday.day} {monday:%B}" + (f" {monday.year}" if monday.year != sunday.year else "")
    return f"{start} – {sunday.day} {sunday:%B %Y}"


def subject(figures: Figures) -> str:
    return f"Percus weekly digest: {figures.organization_id}, {figures.week.label} ({_days(figures.week)})"


def text_body(figures: Figures) -> str:
    lines = [f"The weekly engagement digest of {figures.organization_id} for {figures.week.label} "
             f"({_days(figures.week)}, UTC) is attached as a PDF.", ""]
    if not figures.has_views:
        lines += ["There were no views in this week.", ""]
    for headline in headlines(figures):
        lines.append(f"{headline.label}: {headline.value} (week before: {headline.previous}, "
                     f"change: {headline.change})")
    lines += [f"Business outcome {outcome_line(result)}" for result in figures.outcomes]
    if figures.projects:
        lines += ["", "Top projects:", *(f"  {project_label(row)}: {count(row['views'])} views, completion "
                                         f"rate {share(row['completion_rate'])}"
                                         for row in figures.projects[:TOP_ROWS])]
        if len(figures.projects) > TOP_ROWS:
            lines.append(f"  and {len(figures.projects) - TOP_ROWS} more.")
    lines += ["", "Definitions of every number: docs/metrics.md of Percus analytics."]
    return "\n".join(lines) + "\n"


@functools.cache
def _templates() -> jinja2.Environment:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters.update(FILTERS)
    return environment


def render_html(figures: Figures, *, generated_at: datetime | None = None, preview: bool = False) -> str:
    at = (generated_at or datetime.now(UTC)).astimezone(UTC)
    return _templates().get_template("digest.html").render(
        figures=figures, week=figures.week, days=_days(figures.week), headlines=headlines(figures),
        dropoff_chart=dropoff_chart(figures.dropoff), top_rows=TOP_ROWS,
        outcome_lines=[outcome_line(result) for result in figures.outcomes], project_label=project_label,
        breakdowns=[("Top devices", "Device type", figures.devices),
                    ("Top locales", "Locale", figures.locales)],
        generated_at=f"{at:%Y-%m-%d %H:%M} UTC", preview=preview)


@dataclass(frozen=True)
class Digest:
    figures: Figures
    pdf: bytes
    pages: int

    @property
    def filename(self) -> str:
        return f"percus-digest-{self.figures.organization_id}-{self.figures.week.label}.pdf"


def render_pdf(html: str) -> tuple[bytes, int]:
    """The PDF of a page and its page count. WeasyPrint is imported here: it loads Pango, which the
    processes that never make a digest do not need."""
    import weasyprint

    document = weasyprint.HTML(string=html).render()
    return document.write_pdf(), len(document.pages)


def build(engine: QueryEngine, org: str, week: Week, *, today: date | None = None,
          now: datetime | None = None, preview: bool = False) -> Digest:
    """The digest of `org` for `week`, which must be over, unless it is a `preview` (never sent): the
    week so far, said so on its first page."""
    check_slug(org, "organization")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if week.ends_at > now and not preview:
        raise DigestError(f"week {week} is not over until {week.ends_at:%Y-%m-%d} 00:00 UTC; the last "
                          f"complete week is {Week.last_complete(now)}")
    figures = gather(engine, org, week, today=today)
    pdf, pages = render_pdf(render_html(figures, generated_at=now, preview=preview))
    return Digest(figures, pdf, pages)


# -- delivery -----------------------------------------------------------------------------------


def state_key(org: str, week: Week) -> str:
    return f"{STATE}org={org}/week={week.label}.json"


def sent_record(store: Store, org: str, week: Week) -> dict[str, Any] | None:
    """What was recorded when `org`'s digest of `week` was sent, or None if it never was."""
    try:
        record: dict[str, Any] = json.loads(store.get(state_key(org, week)))
    except KeyError:
        return None
    return record


@dataclass(frozen=True)
class Sent:
    organization_id: str
    week: Week
    message_id: str
    recipients: int
    pages: int
    bytes: int


def send(store: Store, engine: QueryEngine, mailer: Mailer, org: str, week: Week, *, actor: str | None,
         trigger: str = "manual", today: date | None = None, now: datetime | None = None) -> Sent:
    """Make `org`'s digest of `week` and send it to the organization's digest recipients now (even if
    that week was sent before), then record it in the audit log and the state. The organization must
    have opted in."""
    settings = OrganizationRegistry(store, cache_seconds=0).require(check_slug(org, "organization")).digest
    if not (settings.enabled and settings.recipients):
        raise DigestError(f"organization {org!r} has not opted in to the digest: opt in with "
                          f"`percus org digest {org} --digest-to EMAIL`")
    digest = build(engine, org, week, today=today, now=now)
    message = compose(mailer.sender, settings.recipients, subject(digest.figures), text_body(digest.figures),
                      (digest.filename, digest.pdf, "application/pdf"))
    message_id = mailer.send(message)
    sent = Sent(org, week, message_id, len(settings.recipients), digest.pages, len(digest.pdf))
    # The audit record first: a digest that left is on record even if the state write fails (the
    # schedule would then send it once more, which is the lesser harm than a silent send).
    audit.record(store, "digest.sent", {"organization_id": org, "week": week.label},
                 {"recipients": sent.recipients, "delivery": mailer.name, "message_id": message_id,
                  "pages": sent.pages, "bytes": sent.bytes, "trigger": trigger}, actor=actor)
    store.put(state_key(org, week), json.dumps({
        "sent_at": format_timestamp(datetime.now(UTC)), "message_id": message_id, "delivery": mailer.name,
        "recipients": sent.recipients, "trigger": trigger}, sort_keys=True).encode())
    return sent


@dataclass
class Schedule:
    """What one scheduled run did, by organization id."""

    week: Week
    sent: list[Sent] = field(default_factory=list)
    already_sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # organization -> what went wrong

    def summary(self) -> dict[str, Any]:
        return {"week": self.week.label, "sent": [sent.organization_id for sent in self.sent],
                "already_sent": self.already_sent, "failed": self.failed}


def send_due(store: Store, engine: QueryEngine, mailer: Mailer, week: Week, *, actor: str | None,
             today: date | None = None, now: datetime | None = None) -> Schedule:
    """Send `week`'s digest to every opted-in organization (enabled, with recipients) that has not
    had it yet. One organization's failure does not stop the others; it is retried on the next run."""
    run = Schedule(week)
    for organization in OrganizationRegistry(store, cache_seconds=0).list():
        org = organization.organization_id
        if not (organization.digest.enabled and organization.digest.recipients):
            continue
        if sent_record(store, org, week) is not None:
            run.already_sent.append(org)
            continue
        try:
            run.sent.append(send(store, engine, mailer, org, week, actor=actor, trigger="schedule",
                                 today=today, now=now))
        except (RegistryError, DigestError) as exc:
            run.failed[org] = str(exc)
        except Exception as exc:
            log.exception("digest of %s for %s failed; retried on the next run", org, week)
            run.failed[org] = f"{type(exc).__name__}: {exc}"
    return run
