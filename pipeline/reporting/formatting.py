"""How the dashboard and the weekly digest print numbers: counts, percents and shares, with a dash
for a value there is none of (a rate over zero sessions). One copy, so a page and the PDF agree."""

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


# The jinja2 filters of the dashboard's and the digest's templates.
FILTERS: dict[str, Callable[[float | None], str]] = {"count": count, "percent": percent, "share": share}
