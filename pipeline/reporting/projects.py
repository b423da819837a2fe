"""The projects an organization has data for: what the dashboard lists before asking for reports.

Read from the daily rollup for rolled-up days and from curated for the others (the split of
`reports.plan`), so a project appears as soon as its first events are compacted. A project whose
latest state in the dimension tables is archived is left out unless `include_archived`: its data stays.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from pipeline.query.base import QueryEngine, Source
from pipeline.query.sql import day_predicate, literal
from pipeline.query.tables import COMMIT_ROLLUP, CURATED, ROLLUPS
from pipeline.reporting import reports
from pipeline.reporting.names import Names


def project_ids(engine: QueryEngine, org: str, date_from: date | None = None, date_to: date | None = None,
                *, include_archived: bool = False, today: date | None = None,
                names: Names | None = None) -> list[str]:
    """Projects with at least one event dated in the range, sorted (`names`: the dims already read)."""
    days = reports.plan(engine, org, date_from, date_to, today=today)
    parts, sources = [], []
    if days.rolled:
        daily = ROLLUPS[COMMIT_ROLLUP].name
        parts.append(f"SELECT DISTINCT project_id FROM {daily}")
        sources.append(Source(daily, days.rolled))
    if days.unrolled:
        parts.append("SELECT DISTINCT project_id FROM curated "
                     f"WHERE {day_predicate('CAST(event_time AS DATE)', days.unrolled)}")
        sources.append(Source(CURATED.name, days.received))
    if not parts:
        return []
    rows = engine.query("\nUNION\n".join(parts), org=org, sources=sources)
    return _shown(engine, org, rows, include_archived, names)


def live_project_ids(engine: QueryEngine, org: str, *, now: datetime, minutes: int = 60,
                     include_archived: bool = False, names: Names | None = None) -> list[str]:
    """Projects with an event in the last `minutes` (the live page's campaigns), sorted."""
    since = now - timedelta(minutes=minutes)
    # From the day before: an event's corrected time may run a little ahead of its receipt.
    days = (now.date() - since.date()).days
    received = tuple(since.date() + timedelta(days=n) for n in range(-1, days + 1))
    rows = engine.query(
        f"SELECT DISTINCT project_id FROM curated WHERE event_time >= {literal(since)} "
        f"AND event_time <= {literal(now)}", org=org, sources=[Source(CURATED.name, received)])
    return _shown(engine, org, rows, include_archived, names)


def _shown(engine: QueryEngine, org: str, rows: list[dict[str, Any]], include_archived: bool,
           names: Names | None) -> list[str]:
    hidden = frozenset() if include_archived else (names or Names.read(engine.store, org)).archived
    return sorted(row["project_id"] for row in rows
                  if row["project_id"] is not None and row["project_id"] not in hidden)
