"""How the dashboard, the weekly digest and the command line print numbers: counts, percents and
shares, with a dash for a value there is none of (a rate over zero sessions); and the human header
and unit of every column. One copy, so a page, the PDF and a table agree."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.reporting import metrics

MISSING = "–"


def count(value: float | None) -> str:
    return MISSING if value is None else f"{value:,.0f}"


def percent(value: float | None) -> str:
    """A value already in percent (avg_max_percent)."""
    return MISSING if value is None else f"{value:.1f} %"


def share(value: float | None) -> str:
    """A fraction shown in percent (rates and shares)."""
    return MISSING if value is None else f"{value * 100:.1f} %"


def count_and_share(value: int, fraction: float | None) -> str:
    return f"{count(value)} · {share(fraction)}"


def shown(name: str, value: float | None) -> str:
    """A metric's value in its unit (docs/metrics.md)."""
    unit = metrics.METRICS[name].unit
    return share(value) if unit == "fraction" else percent(value) if unit == "percent" else count(value)


def change(name: str, current: float | None, previous: float | None) -> str:
    """Period over period (the digest's week over week, the dashboard's range against the one before):
    relative for counts (+25 %), in percentage points for rates and percents (+4.2 pp)."""
    unit = metrics.METRICS[name].unit
    if unit in ("fraction", "percent"):
        if current is None or previous is None:
            return MISSING
        points = (current - previous) * (100 if unit == "fraction" else 1)
        return "±0.0 pp" if round(points, 1) == 0 else f"{points:+.1f} pp"
    if not previous:
        return "new" if current else MISSING
    relative = ((current or 0) - previous) / previous * 100
    return "±0 %" if round(relative) == 0 else f"{relative:+.0f} %"


# -- columns: the human header and the unit of every name a report, an export or a listing prints -----

# Metric names as the dashboard tiles and the digest's headlines call them, then the other columns.
LABELS: dict[str, str] = {
    "views": "Views", "unique_viewers": "Unique viewers", "plays": "Plays", "play_rate": "Play rate",
    "completions": "Completions", "completion_rate": "Completion rate", "reach_25": "Reached 25 %",
    "reach_50": "Reached 50 %", "reach_75": "Reached 75 %", "reach_100": "Reached 100 %",
    "avg_max_percent": "Avg. furthest point", "cta_clicks": "CTA clicks",
    "cta_sessions": "Views with a click",
    "cta_ctr": "CTA click-through", "interactions": "Interactions", "interaction_rate": "Interaction rate",
    "errors": "Errors", "playback_failures": "Startup failures",
    "playback_failure_rate": "Startup failure rate",
    "exits_before_start": "Exits before start", "exit_before_start_rate": "Exit before start rate",
    "autoplay_failures": "Autoplay failures", "autoplay_failure_rate": "Autoplay failure rate",
    "chapter_reach": "Chapter reach", "plays_with_data": "Plays with watched data",
    "plays_without_data": "Plays without watched data", "avg_watched_percent": "Avg. watched",
    "watched_share": "Watched", "watched_again_share": "Watched again", "watched": "Plays that watched",
    "watched_again": "Plays that watched again", "people": "People", "converted": "Converted",
    "conversion_rate": "Conversion rate", "value": "Value",
    "median_days_to_convert": "Median days to convert",
    # report rows and headlines
    "percent": "Point of the video", "sessions": "Sessions", "fraction": "Share of plays", "share": "Share",
    "bucket": "Percent of the video", "cta_id": "CTA", "cta_name": "CTA name", "clicks": "Clicks",
    "chapter_id": "Chapter", "chapter_name": "Chapter name", "entries": "Entries", "error_code": "Error code",
    "cohort": "Furthest engagement", "dimension": "Dimension", "device_type": "Device type", "os": "OS",
    "browser": "Browser", "locale": "Locale", "country": "Country", "since": "Since", "until": "Until",
    "start": "Start", "error_spike": "Error spike", "name": "Outcome", "audience": "Audience",
    "attribution_days": "Attribution window", "from": "From", "to": "To",
    "project_id": "Project", "project_name": "Project name", "template_id": "Template",
    "template_name": "Template name", "milestones": "Milestones", "ctas": "CTAs", "chapters": "Chapters",
    "rows": "Rows", "codes": "Error codes", "buckets": "Buckets", "cohorts": "Cohorts",
    "errors_per_bucket": "Errors per 5 minutes",
    # command-line listings
    "organization_id": "Organization", "created_at": "Created", "revoked_at": "Revoked", "key_id": "Key id",
    "retention_days": "Retention", "value_policy": "Value policy", "active_api_keys": "API keys",
    "digest": "Digest", "webhook": "Webhook", "at": "Time", "action": "Action", "actor": "Actor",
    "details": "Details", "batch_id": "Batch", "event_count": "Events", "attempts": "Attempts",
    "dead_at": "Dead since", "dead_reason": "Reason",
}
# Units of the columns that are not metrics (a metric's unit is in pipeline/reporting/metrics.py).
_UNITS = {"percent": "percent", "sessions": "sessions", "fraction": "fraction", "share": "fraction",
          "clicks": "events", "entries": "events", "watched": "sessions", "watched_again": "sessions",
          "attribution_days": "days", "retention_days": "days", "event_count": "events", "attempts": "events",
          "active_api_keys": "keys"}
_METRIC_UNITS = {metric.name: metric.unit
                 for metric in (*metrics.SUMMARY, *metrics.PER_ITEM, *metrics.ENGAGEMENT, *metrics.OUTCOMES)}
_COUNTS = {"sessions", "viewers", "events", "people", "keys"}


def label(name: str) -> str:
    """The header of a column: its label, or its name in words."""
    return LABELS.get(name) or name.replace("_", " ").capitalize()


# The jinja2 filters of the dashboard's and the digest's templates: values, and every header by its
# column's name (`"views" | label`), so a page words a metric as the command line does.
FILTERS: dict[str, Callable[..., str]] = {"count": count, "percent": percent, "share": share, "label": label}


def unit(name: str) -> str:
    """sessions, viewers, events, people, keys (counts); fraction, percent, currency, days, seconds; text."""
    return _METRIC_UNITS.get(name) or _UNITS.get(name, "text")


def cell(name: str, value: object) -> str:
    """A value as a table shows it, by its column's unit: counts with thousands separators, fractions
    and percents as `12.5 %`, days and seconds with their unit, amounts per currency."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):  # an amount per currency
        return ", ".join(f"{amount} {currency}" for currency, amount in value.items()) or MISSING
    if not isinstance(value, int | float):
        return str(value)
    kind = unit(name)
    if kind in _COUNTS:
        return count(value)
    if kind == "fraction":
        return share(value)
    if kind == "percent":
        return percent(value)
    if kind == "days":
        return f"{value:,.1f} days" if isinstance(value, float) else f"{value:,} days"
    if kind == "seconds":
        return f"{value:,.1f} s"
    return str(value)
