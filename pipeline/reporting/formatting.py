"""How the dashboard and the weekly digest print numbers: counts, percents and shares, with a dash
for a value there is none of (a rate over zero sessions). One copy, so a page and the PDF agree."""

from __future__ import annotations

from collections.abc import Callable

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


# The jinja2 filters of the dashboard's and the digest's templates.
FILTERS: dict[str, Callable[[float | None], str]] = {"count": count, "percent": percent, "share": share}
