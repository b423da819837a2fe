"""Which events of an organization a report or an export covers (`Selection`), and the checks that
turn the text of an edge (the reports and exports APIs, the dashboard, the command line) into one.

A refusal is a `SelectionError`: a ValueError whose message names the parameter as the edge calls it
(`from`, `--from`), with the API's error code and field beside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from translator.ids import check_slug

EARLIEST = date(2000, 1, 1)
MAX_RANGE_DAYS = 3 * 366  # a report reads every day of its range: bound the work one request asks for
MAX_LIVE_MINUTES = 24 * 60
MAX_ATTRIBUTION_DAYS = 365
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SelectionError(ValueError):
    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code, self.field = code, field


@dataclass(frozen=True)
class Selection:
    """Events of one organization (named beside it): of a project and a template if given, dated
    between two UTC days inclusive (None: from its first data, until today), without known bots
    unless `include_bots`."""

    project_id: str | None = None
    template_id: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    include_bots: bool = False

    def __post_init__(self) -> None:
        for name in ("project_id", "template_id"):
            value = getattr(self, name)
            if value is not None:
                check_slug(value, name)
        if self.date_from is not None and self.date_to is not None and self.date_from > self.date_to:
            raise ValueError(f"from {self.date_from} is after to {self.date_to}")

    def as_json(self) -> dict[str, str | bool | None]:
        """As the audit log and the exports API show it (null: the default)."""
        return {"project_id": self.project_id, "template_id": self.template_id,
                "from": self.date_from.isoformat() if self.date_from is not None else None,
                "to": self.date_to.isoformat() if self.date_to is not None else None,
                "include_bots": self.include_bots}


DEFAULT = Selection()  # every project and template, every day, no known bots


def parse_slug(text: str, name: str) -> str:
    """An organization, project or template id; `name` is what the message and the field call it."""
    try:
        return check_slug(text, name)
    except ValueError as exc:
        raise SelectionError("invalid_parameter", str(exc), name) from None


def parse_date(text: str, name: str) -> date:
    """A day as YYYY-MM-DD, nothing else (no time, no week date)."""
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise SelectionError("invalid_date", f"{name} must be a date as YYYY-MM-DD, not {text[:40]!r}", name)


def check_range(date_from: date | None, date_to: date | None,
                names: tuple[str, str] = ("from", "to")) -> None:
    """Dates within reason, `from` ≤ `to`, and a bounded span (`to` defaults to today). `names`
    are what the messages call the two bounds (the command line says `--from`, `--to`)."""
    today = datetime.now(UTC).date()
    latest = today + timedelta(days=366)
    first, last = names
    for field, name, value in (("from", first, date_from), ("to", last, date_to)):
        if value is not None and not EARLIEST <= value <= latest:
            raise SelectionError("invalid_date", f"{name} must lie between {EARLIEST} and {latest}", field)
    if date_from is not None and date_to is not None and date_from > date_to:
        raise SelectionError("invalid_range", f"{first} ({date_from}) is after {last} ({date_to})", "from")
    if date_from is not None and ((date_to or today) - date_from).days + 1 > MAX_RANGE_DAYS:
        raise SelectionError("range_too_long", f"a range spans at most {MAX_RANGE_DAYS} days", "from")


def parse_range(date_from: str | None, date_to: str | None,
                names: tuple[str, str] = ("from", "to")) -> tuple[date | None, date | None]:
    """The bounds given (None: not given), each parsed, then checked together."""
    first = parse_date(date_from, names[0]) if date_from is not None else None
    last = parse_date(date_to, names[1]) if date_to is not None else None
    check_range(first, last, names)
    return first, last


def parse_attribution_days(text: str, name: str = "attribution_days") -> int:
    """The outcomes report's window after a first view, in days."""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_ATTRIBUTION_DAYS:
        raise SelectionError("invalid_parameter", f"{name} must be a whole number from 1 to "
                             f"{MAX_ATTRIBUTION_DAYS}", "attribution_days")
    return int(text)


def parse_minutes(text: str, name: str = "minutes") -> int:
    """The live report's window: the last N minutes."""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIVE_MINUTES:
        raise SelectionError("invalid_parameter", f"{name} must be a whole number from 1 to "
                             f"{MAX_LIVE_MINUTES}", "minutes")
    return int(text)
