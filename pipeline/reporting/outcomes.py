"""The outcomes report: per engagement cohort, how many people converted (posted an outcome of one
name) within `attribution_days` after their first view in the range, their value per currency and
the median time to convert; beside it, per CTA, the viewers who clicked it and their conversions.

Cohorts are exclusive, by each viewer's furthest engagement over the range's sessions (COHORTS); with
an audience, its members who never viewed in the range are a cohort of their own, counted from the
range's first day. Computed from curated (every day of the range, as the viewer's furthest point
needs all of their sessions), outcomes and audiences in one query; on an engine billed by scan
(Athena) one that reads each of them once, with the same rows. Definitions: docs/metrics.md.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pipeline.query.base import QueryEngine, Source
from pipeline.query.sql import (
    ITEMS,
    SESSION_FACTS,
    SESSIONS,
    TRACKED,
    day_predicate,
    item_event,
    literal,
    parse,
)
from pipeline.query.tables import AUDIENCES, CURATED, OUTCOMES
from pipeline.reporting import metrics
from pipeline.reporting.reports import ONE_DAY, plan, selection_where
from pipeline.reporting.selection import DEFAULT, MAX_ATTRIBUTION_DAYS, Selection

NOT_VIEWED = "not_viewed"
# The exclusive cohorts, least engaged first: the furthest a viewer got in any session of the range.
COHORTS = (NOT_VIEWED, "viewed_not_played", "played_under_25", "played_25_74", "played_75_99", "completed")
DEFAULT_ATTRIBUTION_DAYS = 30
_COHORT = ("CASE WHEN played = 0 THEN 'viewed_not_played' WHEN completed = 1 THEN 'completed' "
           "WHEN furthest >= 75 THEN 'played_75_99' WHEN furthest >= 25 THEN 'played_25_74' "
           "ELSE 'played_under_25' END")
# The query's rows, in either shape: `part` (people, converted, median, value, cta, cta_converted), and
# the columns a part sets (NULL in the others).
_NULLS = {"item": "CAST(NULL AS VARCHAR)", "label": "CAST(NULL AS VARCHAR)", "n": "CAST(NULL AS BIGINT)",
          "seconds": "CAST(NULL AS DOUBLE)", "amount": "CAST(NULL AS DECIMAL(38, 4))"}
_CLICKED, _CTA, _CTA_NAME, _ = ITEMS["ctas"]
_CLICK = item_event(_CLICKED)
# The session facts the query uses: which sessions the selection chooses, and a viewer's cohort.
_FACTS = ("started_at", "day", "project_id", "template_id", "is_bot", "viewer_hash", "first_play",
          "completed", "max_percent")
_SESSION_FACTS = ", ".join(column.sql("duckdb") for column in parse(f"SELECT {SESSION_FACTS}").expressions
                           if column.alias_or_name in _FACTS)
# A viewer's rows, its person rows (one per outcome it converted with) first, earliest outcome first.
# The outcomes called :name, each stored copy of an outcome_id counted once (the first received): both
# query shapes read them so.
_CONVERTING = """converting AS (
  SELECT outcome_id, viewer_hash, value, currency, occurred_at FROM (
    SELECT outcome_id, viewer_hash, value, currency, occurred_at,
      ROW_NUMBER() OVER (PARTITION BY outcome_id ORDER BY received_at) AS copy
    FROM outcomes WHERE name = :name) AS stored
  WHERE copy = 1),"""
_PERSON = "(PARTITION BY viewer_hash ORDER BY of_session DESC, seconds NULLS LAST)"
# The columns of a chosen row, and of an audience member's row (NULL where not given).
_MEMBER = {"of_session": "1", "viewed": "0", "viewer_hash": "viewer_hash"}
_ROW = ("of_session", "viewed", "viewer_hash", _CTA, _CTA_NAME, "started_at", "first_play", "max_percent",
        "completed")
# The single-scan shape's rows per kind (cohort, value, cta) as the parts they give.
_UNPIVOT = ", ".join(f"('{kind}', '{part}')" for kind, part in (
    ("cohort", "people"), ("cohort", "converted"), ("cohort", "median"), ("value", "value"), ("cta", "cta"),
    ("cta", "cta_converted")))


def outcomes(engine: QueryEngine, org: str, name: str, selection: Selection = DEFAULT, *,
             audience: str | None = None, attribution_days: int = DEFAULT_ATTRIBUTION_DAYS,
             today: date | None = None) -> dict[str, Any]:
    """The report for outcomes called `name` (and, with `audience`, its members who never viewed)."""
    if not 1 <= attribution_days <= MAX_ATTRIBUTION_DAYS:
        raise ValueError(f"attribution_days must be 1 to {MAX_ATTRIBUTION_DAYS}")
    days = plan(engine, org, selection.date_from, selection.date_to, today=today)
    in_range = [days.date_from + n * ONE_DAY for n in range((days.date_to - days.date_from).days + 1)]
    received = tuple(sorted({day + k * ONE_DAY for day in in_range for k in (-1, 0, 1)}))
    outcome_days = tuple(days.date_from + n * ONE_DAY
                         for n in range((days.date_to - days.date_from).days + attribution_days + 1))
    where, params = selection_where(selection)
    params = {**params, "name": name, "window": attribution_days * 86_400}
    sources = [Source(CURATED.name, received), Source(OUTCOMES.name, outcome_days)]
    if audience is not None:
        params["audience"] = audience
        sources.append(Source(AUDIENCES.name, tuple(engine.partition_days(AUDIENCES.name, org))))
    range_start = datetime(days.date_from.year, days.date_from.month, days.date_from.day)
    shape = _single_scan if engine.billed_by_scan else _layered
    rows = engine.query(shape(day_predicate("day", in_range), where, range_start, audience is not None),
                        org=org, sources=sources, params=params)
    return _shaped(rows, name=name, audience=audience, attribution_days=attribution_days,
                   date_from=days.date_from, date_to=days.date_to)


def outcome_names(engine: QueryEngine, org: str, date_from: date, date_to: date, *,
                  attribution_days: int = DEFAULT_ATTRIBUTION_DAYS, most: int = 3) -> list[str]:
    """The names of the outcomes that could count for a range (those that occurred from its first day
    until `attribution_days` after its last), the most frequent first: what the dashboard shows."""
    days = tuple(date_from + n * ONE_DAY for n in range((date_to - date_from).days + attribution_days + 1))
    rows = engine.query(
        f"SELECT name, COUNT(DISTINCT outcome_id) AS n FROM outcomes GROUP BY name ORDER BY n DESC, name "
        f"LIMIT {int(most)}", org=org, sources=[Source(OUTCOMES.name, days)])
    return [str(row["name"]) for row in rows]


def _layered(in_days: str, where: str, range_start: datetime, audience: bool) -> str:
    """The query's rows in layers of CTEs, several reading one: for DuckDB, which materializes a CTE
    read more than once."""
    baseline = ""
    if audience:
        baseline = (f"\n  UNION ALL SELECT DISTINCT viewer_hash, {literal(range_start)} AS start_at, "
                    f"'{NOT_VIEWED}' AS cohort FROM audiences WHERE audience = :audience "
                    f"AND viewer_hash NOT IN (SELECT viewer_hash FROM viewed)")
    return f"""
WITH events AS (SELECT * FROM curated),
sessions AS ({SESSIONS}),
chosen AS (SELECT * FROM sessions WHERE viewer_hash IS NOT NULL AND {in_days} AND {where}),
viewed AS (
  SELECT viewer_hash, MIN(started_at) AS start_at,
    MAX(CASE WHEN first_play IS NOT NULL THEN 1 ELSE 0 END) AS played,
    MAX(CASE WHEN first_play IS NOT NULL THEN max_percent ELSE CAST(0 AS DOUBLE) END) AS furthest,
    MAX(completed) AS completed
  FROM chosen GROUP BY viewer_hash),
people AS (SELECT viewer_hash, start_at, {_COHORT} AS cohort FROM viewed{baseline}),
{_CONVERTING}
hits AS (
  SELECT p.viewer_hash, p.cohort, o.value, o.currency,
    date_diff('second', p.start_at, o.occurred_at) AS seconds
  FROM people AS p JOIN converting AS o ON o.viewer_hash = p.viewer_hash
  WHERE o.occurred_at >= p.start_at AND date_diff('second', p.start_at, o.occurred_at) < :window),
firsts AS (SELECT viewer_hash, MAX(cohort) AS cohort, MIN(seconds) AS seconds FROM hits GROUP BY viewer_hash),
ranked AS (
  SELECT cohort, seconds, ROW_NUMBER() OVER (PARTITION BY cohort ORDER BY seconds) AS position,
    COUNT(*) OVER (PARTITION BY cohort) AS count FROM firsts),
clicked AS (
  SELECT e.cta_id, e.cta_name, c.viewer_hash FROM events AS e
  JOIN (SELECT session_id, viewer_hash FROM chosen) AS c ON e.session_id = c.session_id
  WHERE e.event_type = 'cta.clicked' AND COALESCE(e.consent_tracking, FALSE))
{_part("people", "people GROUP BY cohort", item="cohort", n="COUNT(*)")}
UNION ALL {_part("converted", "firsts GROUP BY cohort", item="cohort", n="COUNT(*)")}
UNION ALL {_part("median", "ranked WHERE 2 * position IN (count, count + 1, count + 2) GROUP BY cohort",
                 item="cohort", seconds="AVG(CAST(seconds AS DOUBLE))")}
UNION ALL {_part("value", "hits WHERE currency IS NOT NULL GROUP BY cohort, currency", item="cohort",
                 label="currency", amount="CAST(SUM(value) AS DECIMAL(38, 4))")}
UNION ALL {_part("cta", "clicked GROUP BY cta_id", item="cta_id", label="MAX(cta_name)",
                 n="COUNT(DISTINCT viewer_hash)")}
UNION ALL {_part("cta_converted", "clicked AS c JOIN firsts AS f ON c.viewer_hash = f.viewer_hash "
                 "GROUP BY c.cta_id", item="c.cta_id", n="COUNT(DISTINCT c.viewer_hash)")}
"""


def _part(name: str, source: str, **columns: str) -> str:
    """One part of the answer's UNION: the columns it sets, NULL for the others."""
    cells = ", ".join(f"{columns.get(column, null)} AS {column}" for column, null in _NULLS.items())
    return f"SELECT '{name}' AS part, {cells} FROM {source}"


def _single_scan(in_days: str, where: str, range_start: datetime, audience: bool) -> str:
    """The query's rows from one read of curated, of outcomes and of audiences, for an engine billed by
    scan: Athena inlines a CTE at each reference and bills each read, so every CTE below is
    referenced once.

    Curated's tracked events grouped per session (`of_session` 1) and per session and CTA clicked,
    the session's choice by the selection carried to its CTA rows by a window; with the audience's
    members, one person row per viewer (cohort, window start) and a row per viewer and CTA; each
    person row joined to the outcomes in its window; the viewer's first conversion carried to all
    its rows by a window; the answer per cohort, per cohort and currency and per CTA as grouping sets
    of that one relation, and each of those rows as the parts it gives."""
    members = ""
    if audience:
        cells = ", ".join(f"{_MEMBER.get(name, 'NULL')} AS {name}" for name in _ROW)
        members = f"\n  UNION ALL SELECT {cells} FROM audiences WHERE audience = :audience"
    return f"""
WITH scanned AS (
  SELECT GROUPING({_CTA}) AS of_session, session_id, {_CTA}, {_SESSION_FACTS},
    MAX({_CTA_NAME}) FILTER (WHERE {_CLICK}) AS {_CTA_NAME}
  FROM curated WHERE {TRACKED} GROUP BY GROUPING SETS ((session_id), (session_id, {_CTA}))
  HAVING GROUPING({_CTA}) = 1 OR COUNT(*) FILTER (WHERE {_CLICK}) > 0),
chosen AS (
  SELECT of_session, 1 AS viewed, viewer AS viewer_hash, {', '.join(_ROW[3:])} FROM (
    SELECT *, MAX(CASE WHEN of_session = 1 AND viewer_hash IS NOT NULL AND {in_days} AND {where}
                       THEN viewer_hash END) OVER (PARTITION BY session_id) AS viewer
    FROM scanned) AS sessions
  WHERE viewer IS NOT NULL{members}),
grouped AS (
  SELECT of_session, viewer_hash, {_CTA}, MAX({_CTA_NAME}) AS {_CTA_NAME}, SUM(viewed) AS viewed,
    COALESCE(MIN(started_at), {literal(range_start)}) AS start_at,
    MAX(CASE WHEN first_play IS NOT NULL THEN 1 ELSE 0 END) AS played,
    MAX(CASE WHEN first_play IS NOT NULL THEN max_percent ELSE CAST(0 AS DOUBLE) END) AS furthest,
    MAX(completed) AS completed
  FROM chosen GROUP BY of_session, viewer_hash, {_CTA}),
people AS (
  SELECT of_session, viewer_hash, {_CTA}, {_CTA_NAME}, start_at,
    CASE WHEN of_session = 0 THEN NULL WHEN viewed = 0 THEN '{NOT_VIEWED}' ELSE {_COHORT} END AS cohort
  FROM grouped),
{_CONVERTING}
hits AS (
  SELECT p.of_session, p.viewer_hash, p.{_CTA}, p.{_CTA_NAME}, p.cohort, o.value, o.currency,
    date_diff('second', p.start_at, o.occurred_at) AS seconds
  FROM people AS p LEFT JOIN converting AS o ON p.of_session = 1 AND o.viewer_hash = p.viewer_hash
    AND o.occurred_at >= p.start_at AND date_diff('second', p.start_at, o.occurred_at) < :window),
firsts AS (
  SELECT *, CASE WHEN of_session = 0 OR copy = 1 THEN 1 ELSE 0 END AS counted,
    CASE WHEN (of_session = 0 OR copy = 1) AND to_convert IS NOT NULL THEN 1 ELSE 0 END AS converted FROM (
      SELECT *, FIRST_VALUE(seconds) OVER {_PERSON} AS to_convert, ROW_NUMBER() OVER {_PERSON} AS copy
      FROM hits) AS windowed),
ranked AS (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY of_session, cohort, converted ORDER BY to_convert) AS position,
    COUNT(*) OVER (PARTITION BY of_session, cohort, converted) AS count
  FROM firsts),
answered AS (
  SELECT CASE WHEN of_session = 0 THEN 'cta' WHEN GROUPING(currency) = 0 THEN 'value' ELSE 'cohort' END
      AS kind,
    CASE WHEN of_session = 0 THEN {_CTA} ELSE cohort END AS item,
    CASE WHEN of_session = 0 THEN MAX({_CTA_NAME}) ELSE currency END AS label,
    SUM(counted) AS people, SUM(converted) AS converted,
    AVG(CAST(to_convert AS DOUBLE))
      FILTER (WHERE converted = 1 AND 2 * position IN (count, count + 1, count + 2)) AS seconds,
    CAST(SUM(value) AS DECIMAL(38, 4)) AS amount
  FROM ranked
  GROUP BY GROUPING SETS ((of_session, cohort, {_CTA}), (of_session, cohort, currency))
  HAVING GROUPING(currency) = 1 OR (of_session = 1 AND currency IS NOT NULL))
SELECT parts.part, item, label,
  CAST(CASE WHEN parts.part IN ('people', 'cta') THEN people
            WHEN parts.part IN ('converted', 'cta_converted') THEN converted END AS BIGINT) AS n,
  CASE WHEN parts.part = 'median' THEN seconds END AS seconds,
  CASE WHEN parts.part = 'value' THEN amount END AS amount
FROM answered JOIN (VALUES {_UNPIVOT}) AS parts(kind, part) ON parts.kind = answered.kind
"""


def _shaped(rows: list[dict[str, Any]], *, name: str, audience: str | None, attribution_days: int,
            date_from: date, date_to: date) -> dict[str, Any]:
    """The query's parts as the report: every cohort listed (zeros included), CTAs most clicked first."""
    parts: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    values: dict[str, dict[str, str]] = defaultdict(dict)
    for row in rows:
        if row["part"] == "value":
            values[row["item"]][row["label"]] = _money(row["amount"])
        else:
            parts[row["part"]][row["item"]] = row
    rate = metrics.OUTCOME_METRICS["conversion_rate"]

    def counted(people: int, converted: int) -> dict[str, Any]:
        return {"people": people, "converted": converted,
                "conversion_rate": rate.value({"people": people, "converted": converted})}

    cohorts = []
    for cohort in COHORTS if audience is not None else COHORTS[1:]:
        median = parts["median"].get(cohort, {}).get("seconds")
        people, converted = _n(parts["people"], cohort), _n(parts["converted"], cohort)
        cohorts.append({"cohort": cohort, **counted(people, converted),
                        "value": dict(sorted(values[cohort].items())),
                        "median_days_to_convert": None if median is None else round(median / 86_400, 4)})
    ctas = [{"cta_id": cta_id, "cta_name": row["label"],
             **counted(row["n"] or 0, _n(parts["cta_converted"], cta_id))}
            for cta_id, row in parts["cta"].items()]
    ctas.sort(key=lambda row: (-row["people"], row["cta_id"]))
    total_people = sum(row["people"] for row in cohorts)
    total_converted = sum(row["converted"] for row in cohorts)
    return {"name": name, "audience": audience, "attribution_days": attribution_days,
            "from": date_from.isoformat(), "to": date_to.isoformat(),
            **counted(total_people, total_converted), "cohorts": cohorts, "ctas": ctas}


def _n(part: dict[str, dict[str, Any]], item: str) -> int:
    return int(part.get(item, {}).get("n") or 0)


def _money(amount: Any) -> str:
    """A summed value as exact decimal text ("120.5", "3"), whatever the engine returned."""
    return format(Decimal(str(amount)).normalize(), "f")

