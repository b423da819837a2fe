"""The reports: summary (also day by day), drop-off, CTAs, chapters, breakdowns, errors, engagement,
live, projects.

Each report reads the rollups of the closed days that are rolled up and computes the same rows
from curated for the other days (the SQL that builds the rollups, `pipeline/query/sql.py`), in one
query per report part, so the numbers are the same either way and today's are always fresh.
Every report takes the organization as a required argument and reads only its partitions, and a
`Selection` of its events (`pipeline/reporting/selection.py`): by default all of them but known bots.
Metric names and formulas: `pipeline/reporting/metrics.py` (docs/metrics.md). Results are JSON-ready
(numbers, strings, None; times as ISO-8601 UTC text).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from pipeline.query.base import QueryEngine, Source
from pipeline.query.single_scan import SUMMARY_PARTS, engagement_build, item_build, summary_build
from pipeline.query.sql import (
    DIMENSIONS,
    ENGAGEMENT_COUNTS,
    ENGAGEMENT_PLAYS,
    ENGAGEMENT_SERIES,
    ROLLUP_BUILDS,
    SESSION_MEASURES,
    SESSIONS,
    day_predicate,
    literal,
)
from pipeline.query.tables import COMMIT_ROLLUP, CURATED, ROLLUPS
from pipeline.reporting import metrics
from pipeline.reporting.names import Names
from pipeline.reporting.rollups import current_days, last_closed_day
from pipeline.reporting.selection import DEFAULT, Selection
from translator.canonical import format_timestamp
from translator.engagement import BUCKETS

ONE_DAY = timedelta(days=1)
LIVE_BUCKET_MINUTES = 5


def selection_where(selection: Selection, is_bot: str = "is_bot") -> tuple[str, dict[str, Any]]:
    """A predicate over rollup rows (or over curated rows, with is_bot="device_is_bot")."""
    terms, params = ["TRUE" if selection.include_bots else f"NOT COALESCE({is_bot}, FALSE)"], {}
    for column in ("project_id", "template_id"):
        if getattr(selection, column) is not None:
            terms.append(f"{column} = :{column}")
            params[column] = getattr(selection, column)
    return " AND ".join(terms), params


@dataclass(frozen=True)
class Plan:
    """Which days of a range come from rollups and which are computed from curated."""

    date_from: date
    date_to: date
    rolled: tuple[date, ...]
    unrolled: tuple[date, ...]

    @property
    def received(self) -> tuple[date, ...]:
        """Curated partitions the unrolled days read (a session's events arrive within a day)."""
        return tuple(sorted({day + k * ONE_DAY for day in self.unrolled for k in (-1, 0, 1)}))


def plan(engine: QueryEngine, org: str, date_from: date | None = None, date_to: date | None = None,
         *, today: date | None = None) -> Plan:
    """Resolve a date range and split it into rolled-up days and days computed from curated: those
    without a rollup, and the days not closed yet (their rollup, if any, may lag the events)."""
    if date_from is not None and date_to is not None and date_from > date_to:
        raise ValueError(f"date_from {date_from} is after date_to {date_to}")
    today = today or datetime.now(UTC).date()
    closed = last_closed_day(today)
    rolled_all = [day for day in engine.partition_days(ROLLUPS[COMMIT_ROLLUP].name, org) if day <= closed]
    last = date_to or max(today, date_from or date.min)
    first = date_from
    if first is None:
        curated_days = engine.partition_days(CURATED.name, org)
        starts = rolled_all[:1] + [day - ONE_DAY for day in curated_days[:1]]
        first = min(min(starts), last) if starts else last
    in_range = {first + n * ONE_DAY for n in range((last - first).days + 1)}
    rolled = [day for day in rolled_all if day in in_range]
    current = current_days(engine.store, org, rolled)
    if len(current) < len(rolled):  # rolled up by an earlier version: from curated, while it has the day
        curated = set(engine.partition_days(CURATED.name, org))
        rolled = [day for day in rolled if day in current or day not in curated]
    return Plan(first, last, tuple(rolled), tuple(sorted(in_range - set(rolled))))


def _with(plan: Plan, *tables: str) -> tuple[str, list[Source]]:
    """The WITH clause defining each rollup table over the whole range, and the sources it reads."""
    ctes, sources = [], []
    if plan.unrolled:
        ctes += ["events AS (SELECT * FROM curated)", f"sessions AS ({SESSIONS})"]
        sources.append(Source(CURATED.name, plan.received))
    for name in tables:
        table = ROLLUPS[name]
        columns = ", ".join(table.schema.names)
        parts = []
        if plan.rolled:
            parts.append(f'SELECT CAST("date" AS DATE) AS day, {columns} FROM {table.name}')
            sources.append(Source(table.name, plan.rolled))
        if plan.unrolled:
            parts.append(f"SELECT day, {columns} FROM ({ROLLUP_BUILDS[name]}) AS built "
                         f"WHERE {day_predicate('day', plan.unrolled)}")
        ctes.append(f"{name} AS (" + "\nUNION ALL\n".join(parts) + ")")
    return "WITH " + ",\n".join(ctes), sources


_SQL_TYPES = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN",
              pa.decimal128(38, 0): "DECIMAL(38, 0)"}


def _tagged(plan: Plan, parts: tuple[str, ...], build: Callable[[str], str]) -> tuple[str, list[Source]]:
    """One relation of several rollup tables' rows over the whole range, each row tagged by its table in
    `part`: every rollup table read once, and the unrolled days' rows from `build` (of a day predicate),
    which reads curated once. For engines billed by scan (`QueryEngine.billed_by_scan`)."""
    columns: dict[str, pa.DataType] = {}
    for name in parts:
        for field in ROLLUPS[name].schema:
            columns.setdefault(field.name, field.type)
    branches, sources = [], []
    if plan.rolled:
        for name in parts:
            table = ROLLUPS[name]
            cells = ", ".join(column if column in table.schema.names else f"CAST(NULL AS {_SQL_TYPES[kind]}) "
                              f"AS {column}" for column, kind in columns.items())
            branches.append(f"SELECT '{name}' AS part, CAST(\"date\" AS DATE) AS day, {cells} "
                            f"FROM {table.name}")
            sources.append(Source(table.name, plan.rolled))
    if plan.unrolled:
        built = build(day_predicate("day", plan.unrolled))
        branches.append(f"SELECT part, day, {', '.join(columns)} FROM ({built}) AS built")
        sources.append(Source(CURATED.name, plan.received))
    return "(" + "\nUNION ALL\n".join(branches) + ") AS parts", sources


def _items(engine: QueryEngine, days: Plan, name: str) -> tuple[str, str, list[Source]]:
    """WITH clause and relation of an item rollup (`ctas`, `chapters`) over the whole range."""
    if engine.billed_by_scan:
        relation, sources = _tagged(days, (name,), item_build(name))
        return "", relation, sources
    head, sources = _with(days, name)
    return head, name, sources


_SUMS = ", ".join(f"SUM({name}) AS {name}" for name in SESSION_MEASURES)


def _summary_query(days: Plan, selection: Selection, engine: QueryEngine, *, by_day: bool
                   ) -> tuple[str, list[Source], dict[str, Any]]:
    where, params = selection_where(selection)
    day, group = ("day, ", " GROUP BY day") if by_day else ("", "")
    if engine.billed_by_scan:
        relation, sources = _tagged(days, SUMMARY_PARTS, summary_build)

        def of(part: str) -> str:
            return f"FILTER (WHERE part = '{part}' AND {where})"
        sums = ", ".join(f"SUM({name}) {of('daily')} AS {name}" for name in SESSION_MEASURES)
        return (f"SELECT {day}{sums}, COUNT(DISTINCT viewer_key) {of('viewers')} AS unique_viewers, "
                f"SUM(errors) {of('errors')} AS errors FROM {relation}{group}", sources, params)
    head, sources = _with(days, "daily", "viewers", "errors")
    if not by_day:
        return (f"{head}\nSELECT * FROM (SELECT {_SUMS} FROM daily WHERE {where}) AS d\n"
                "CROSS JOIN (SELECT COUNT(DISTINCT viewer_key) AS unique_viewers "
                f"FROM viewers WHERE {where}) AS v\n"
                f"CROSS JOIN (SELECT SUM(errors) AS errors FROM errors WHERE {where}) AS e", sources, params)
    return (f"{head}\nSELECT day, {_SUMS}, COALESCE(SUM(unique_viewers), 0) AS unique_viewers, "
            f"SUM(errors) AS errors FROM (\n"
            f"SELECT day, {_SUMS}, NULL AS unique_viewers, NULL AS errors FROM daily WHERE {where} "
            "GROUP BY day\n"
            f"UNION ALL SELECT day, {_NO_SUMS}, COUNT(DISTINCT viewer_key), NULL FROM viewers WHERE {where} "
            f"GROUP BY day\n"
            f"UNION ALL SELECT day, {_NO_SUMS}, NULL, SUM(errors) FROM errors WHERE {where} GROUP BY day\n"
            f") AS parts GROUP BY day", sources, params)


def summary(engine: QueryEngine, org: str, selection: Selection = DEFAULT, *,
            today: date | None = None) -> dict[str, Any]:
    """The summary metrics (keys: metrics.SUMMARY names; rates are fractions, None without data)."""
    days = plan(engine, org, selection.date_from, selection.date_to, today=today)
    text, sources, params = _summary_query(days, selection, engine, by_day=False)
    return metrics.compute(engine.query(text, org=org, sources=sources, params=params)[0])


_NO_SUMS = ", ".join(f"NULL AS {name}" for name in SESSION_MEASURES)


def daily_summaries(engine: QueryEngine, org: str, selection: Selection = DEFAULT, *,
                    today: date | None = None) -> list[tuple[date, dict[str, Any]]]:
    """`summary` of each day of the range, in one query (one per day would be minutes on Athena)."""
    days = plan(engine, org, selection.date_from, selection.date_to, today=today)
    text, sources, params = _summary_query(days, selection, engine, by_day=True)
    rows = engine.query(text, org=org, sources=sources, params=params)
    by_day = {row["day"]: row for row in rows}
    empty = {**dict.fromkeys(SESSION_MEASURES), "unique_viewers": 0, "errors": None}  # as `summary` sums it
    span = (days.date_to - days.date_from).days + 1
    return [(day, metrics.compute(by_day.get(day, empty)))
            for day in (days.date_from + n * ONE_DAY for n in range(span))]


def projects(engine: QueryEngine, org: str, selection: Selection = DEFAULT, *, include_archived: bool = False,
             today: date | None = None) -> dict[str, Any]:
    """The projects with sessions in the range, most viewed first: id, name, whether archived, and their
    session metrics. Archived projects (their latest state) are left out unless `include_archived`;
    `archived_hidden` counts those left out."""
    days = plan(engine, org, selection.date_from, selection.date_to, today=today)
    where, params = selection_where(selection)
    head, sources = _with(days, "daily")
    rows = engine.query(
        f"{head}\nSELECT project_id, {_SUMS} FROM daily WHERE project_id IS NOT NULL AND {where} "
        f"GROUP BY project_id ORDER BY views DESC, project_id", org=org, sources=sources, params=params)
    names = Names.read(engine.store, org)
    listed = [{"project_id": row["project_id"], "project_name": names.name("project_id", row["project_id"]),
               "archived": row["project_id"] in names.archived, **metrics.compute(row)} for row in rows]
    shown = [row for row in listed if include_archived or not row["archived"]]
    return {"projects": shown, "archived_hidden": len(listed) - len(shown)}


def _totals(engine: QueryEngine, org: str, days: Plan, selection: Selection) -> dict[str, Any]:
    where, params = selection_where(selection)
    head, sources = _with(days, "daily")
    return engine.query(f"{head}\nSELECT {_SUMS} FROM daily WHERE {where}",
                        org=org, sources=sources, params=params)[0]


def dropoff(engine: QueryEngine, org: str, selection: Selection = DEFAULT, *,
            today: date | None = None) -> dict[str, Any]:
    """Plays reaching 25/50/75/100 %: {"plays": n, "milestones": [{percent, sessions, fraction}]}."""
    days = plan(engine, org, selection.date_from, selection.date_to, today=today)
    counts = _totals(engine, org, days, selection)
    plays = counts["plays"] or 0
    milestones = []
    for percent, column in ((25, "reached_25"), (50, "reached_50"), (75, "reached_75"), (100, "completions")):
        reach = metrics.METRICS[f"reach_{percent}"]
        milestones.append({"percent": percent, "sessions": counts[column] or 0,
                           "fraction": reach.value(counts)})
    return {"plays": plays, "milestones": milestones}


def ctas(engine: QueryEngine, org: str, selection: Selection = DEFAULT, *,
         today: date | None = None) -> dict[str, Any]:
    """The CTA funnel: views → plays → views with a click, overall and per CTA (by sessions)."""
    days = plan(engine, org, selection.date_from, selection.date_to, today=today)
    counts = _totals(engine, org, days, selection)
    views = counts["views"] or 0
    where, params = selection_where(selection)
    head, relation, sources = _items(engine, days, "ctas")
    rows = engine.query(
        f"{head}\nSELECT cta_id, MAX(cta_name) AS cta_name, SUM(clicks) AS clicks, SUM(sessions) AS sessions "
        f"FROM {relation} WHERE {where} GROUP BY cta_id ORDER BY sessions DESC, cta_id",
        org=org, sources=sources, params=params)
    per_cta = next(metric for metric in metrics.PER_ITEM if metric.scope == "CTA")
    return {
        "views": views, "plays": counts["plays"] or 0, "cta_sessions": counts["cta_sessions"] or 0,
        "cta_clicks": counts["cta_clicks"] or 0, "cta_ctr": metrics.METRICS["cta_ctr"].value(counts),
        "ctas": [{**row, "cta_ctr": per_cta.value({**row, "views": views})} for row in rows],
    }


def chapters(engine: QueryEngine, org: str, selection: Selection = DEFAULT, *,
             today: date | None = None) -> dict[str, Any]:
    """Chapter reach: plays that entered each chapter."""
    days = plan(engine, org, selection.date_from, selection.date_to, today=today)
    plays = _totals(engine, org, days, selection)["plays"] or 0
    where, params = selection_where(selection)
    head, relation, sources = _items(engine, days, "chapters")
    rows = engine.query(
        f"{head}\nSELECT chapter_id, MAX(chapter_name) AS chapter_name, SUM(entries) AS entries, "
        f"SUM(sessions) AS sessions FROM {relation} WHERE {where} GROUP BY chapter_id "
        f"ORDER BY sessions DESC, chapter_id", org=org, sources=sources, params=params)
    reach = next(metric for metric in metrics.PER_ITEM if metric.scope == "chapter")
    return {"plays": plays,
            "chapters": [{**row, "chapter_reach": reach.value({**row, "plays": plays})} for row in rows]}


def breakdown(engine: QueryEngine, org: str, dimension: str, selection: Selection = DEFAULT, *,
              today: date | None = None) -> dict[str, Any]:
    """Session metrics per value of a dimension (device_type, os, browser, locale, country);
    `value` None is "unknown". Rows by views, most first."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension must be one of {sorted(DIMENSIONS)}, got {dimension!r}")
    days = plan(engine, org, selection.date_from, selection.date_to, today=today)
    where, params = selection_where(selection)
    head, sources = _with(days, "breakdown")
    rows = engine.query(
        f"{head}\nSELECT value, {_SUMS} FROM breakdown WHERE dimension = :dimension AND {where} "
        f"GROUP BY value ORDER BY views DESC, value NULLS LAST",
        org=org, sources=sources, params={**params, "dimension": dimension})
    total = sum(row["views"] for row in rows)
    return {"dimension": dimension, "views": total, "rows": [
        {"value": row["value"], "share": round(row["views"] / total, 6) if total else None,
         **metrics.compute(row)} for row in rows]}


def errors(engine: QueryEngine, org: str, selection: Selection = DEFAULT, *,
           today: date | None = None) -> dict[str, Any]:
    """Errors by code, most first: {"errors": total, "codes": [{error_code, errors, sessions, share}]}."""
    days = plan(engine, org, selection.date_from, selection.date_to, today=today)
    where, params = selection_where(selection)
    head, sources = _with(days, "errors")
    rows = engine.query(
        f"{head}\nSELECT error_code, SUM(errors) AS errors, SUM(sessions) AS sessions FROM errors "
        f"WHERE {where} GROUP BY error_code ORDER BY errors DESC, error_code",
        org=org, sources=sources, params=params)
    total = sum(row["errors"] for row in rows)
    return {"errors": total, "codes": [{**row, "share": round(row["errors"] / total, 6)} for row in rows]}


_ENGAGEMENT_SUMS = ", ".join(f"SUM({name}) AS {name}"
                             for name in (*ENGAGEMENT_COUNTS, "plays", "sum_max_percent"))
_NO_ENGAGEMENT = ", ".join(f"CAST(NULL AS BIGINT) AS {name}" for name in ("bucket", *ENGAGEMENT_COUNTS))
_KEYS = "project_id, template_id, is_bot"


def engagement(engine: QueryEngine, org: str, selection: Selection = DEFAULT, *,
               today: date | None = None) -> dict[str, Any]:
    """The engagement curve: per bucket of 1 % of the video, the plays with watched buckets that
    watched it and watched it again; avg_watched_percent beside avg_max_percent (of all plays)."""
    days = plan(engine, org, selection.date_from, selection.date_to, today=today)
    where, params = selection_where(selection)
    if engine.billed_by_scan:
        head, (relation, sources) = "", _tagged(days, ("engagement", "daily"), engagement_build)
    else:
        head, sources = _with(days, "engagement", "daily")
        relation = (f"(SELECT 'engagement' AS part, {_KEYS}, bucket, {', '.join(ENGAGEMENT_COUNTS)}, "
                    "CAST(NULL AS BIGINT) AS plays, CAST(NULL AS DOUBLE) AS sum_max_percent FROM engagement\n"
                    f"UNION ALL SELECT 'daily' AS part, {_KEYS}, {_NO_ENGAGEMENT}, plays, sum_max_percent "
                    "FROM daily) AS parts")
    rows = engine.query(f"{head}\nSELECT part, bucket, {_ENGAGEMENT_SUMS} FROM {relation} WHERE {where} "
                        "GROUP BY part, bucket", org=org, sources=sources, params=params)
    counts: dict[str, Any] = {name: 0 for name in (*ENGAGEMENT_PLAYS, "plays", "sum_max_percent")}
    curve = {bucket: dict.fromkeys(ENGAGEMENT_SERIES, 0) for bucket in range(BUCKETS)}
    for row in rows:
        if row["part"] == "daily":
            counts |= {name: row[name] or 0 for name in ("plays", "sum_max_percent")}
        elif row["bucket"] is None:
            counts |= {name: row[name] or 0 for name in ENGAGEMENT_PLAYS}
        else:
            curve[row["bucket"]] = {name: row[name] or 0 for name in ENGAGEMENT_SERIES}
    counts["sum_watched"] = sum(curve[bucket]["watched"] for bucket in range(BUCKETS))
    totals = metrics.compute(counts, metrics.ENGAGEMENT)
    shares = {metric.name: metric for metric in metrics.ENGAGEMENT if metric.scope == "bucket"}
    buckets = []
    for bucket in range(BUCKETS):
        row = curve[bucket]
        buckets.append({"bucket": bucket, **row, **{name: metric.value({**row, **counts})
                                                    for name, metric in shares.items()}})
    return {"plays": counts["plays"], **totals,
            "avg_max_percent": metrics.METRICS["avg_max_percent"].value(counts), "buckets": buckets}


def live(engine: QueryEngine, org: str, selection: Selection = DEFAULT, *, now: datetime | None = None,
         minutes: int = 60) -> dict[str, Any]:
    """Sessions started in the last `minutes` (from curated): summary metrics of those sessions, and
    errors per 5-minute bucket with a spike flag (the last bucket at least 5 errors and 3× the mean
    of the earlier ones)."""
    if selection.date_from is not None or selection.date_to is not None:
        raise ValueError("the live report covers the last `minutes`, not a range of days")
    end = (now or datetime.now(UTC)).astimezone(UTC)
    since = end - timedelta(minutes=minutes)
    bucket = timedelta(minutes=LIVE_BUCKET_MINUTES)
    where, params = selection_where(selection)
    # The day before `since` too, so a session that began earlier is not taken as new.
    received = tuple(since.date() + n * ONE_DAY for n in range(-1, (end.date() - since.date()).days + 1))
    source = [Source(CURATED.name, received)]
    measures = ", ".join(f"{expr} AS {name}" for name, expr in SESSION_MEASURES.items())
    counts = engine.query(
        f"WITH events AS (SELECT * FROM curated), sessions AS ({SESSIONS})\n"
        f"SELECT {measures} FROM sessions WHERE started_at >= {literal(since)} "
        f"AND started_at <= {literal(end)} AND {where}", org=org, sources=source, params=params)[0]
    event_filter, _ = selection_where(selection, is_bot="device_is_bot")
    per_minute = engine.query(
        f"SELECT date_trunc('minute', event_time) AS minute, COUNT(*) AS errors FROM curated "
        f"WHERE event_type = 'video.errored' AND event_time >= {literal(since)} "
        f"AND event_time <= {literal(end)} AND {event_filter} GROUP BY date_trunc('minute', event_time)",
        org=org, sources=source, params=params)
    # The spike looks at the last 5 minutes, wherever the clock stands; the buckets shown are the
    # clock's 5-minute spans (:00, :05 …) covering the window, the first and the last maybe partial.
    rolling = _per_bucket(per_minute, since, -(-minutes // LIVE_BUCKET_MINUTES), bucket)
    first = since.replace(minute=since.minute - since.minute % LIVE_BUCKET_MINUTES, second=0, microsecond=0)
    shown = _per_bucket(per_minute, first, max(1, -(-(end - first) // bucket)), bucket)
    earlier = rolling[:-1]
    mean = sum(earlier) / len(earlier) if earlier else 0
    return {
        "since": format_timestamp(since), "until": format_timestamp(end),
        **metrics.compute({**counts, "errors": sum(shown)}),
        "errors_per_bucket": [{"start": format_timestamp(first + i * bucket), "errors": n}
                              for i, n in enumerate(shown)],
        "error_spike": rolling[-1] >= 5 and rolling[-1] >= 3 * mean,
    }


def _per_bucket(per_minute: Sequence[Mapping[str, Any]], start: datetime, buckets: int,
                bucket: timedelta) -> list[int]:
    """Errors per bucket from `start`; a minute beginning before `start` joins the first bucket."""
    counts = [0] * buckets
    for row in per_minute:
        counts[max(0, min((row["minute"] - start) // bucket, buckets - 1))] += row["errors"]
    return counts
