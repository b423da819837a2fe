"""Every query, written once in DuckDB's dialect and rendered for Athena (Trino) with sqlglot.

Queries read logical tables only: `curated` and the rollup tables `rollup_<name>` (columns in
`pipeline/query/tables.py`). An engine binds each logical table to one organization's partitions
before running anything (`pipeline/query/base.py`), so no query text ever names an organization.

The metric definitions of docs/metrics.md live here as SQL, in three layers shared by the rollup
builder and the reports' curated fallback, so that both give the same numbers by construction:
  events    the curated rows that were read;
  sessions  one row per session (one iframe load) with the facts the metrics need;
  builds    per rollup table, rows per (day, project, template, is_bot, ...) of additive counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlglot
from sqlglot import exp

from translator.engagement import BUCKETS, hex_digits_with_bit

# Consent audit events are not viewing activity; video.errored without consent carries no viewer
# identifiers and counts in error totals only.
TRACKED = ("COALESCE(consent_tracking, FALSE) "
           "AND event_type NOT IN ('consent.accepted', 'consent.declined')")
# Evidence that playback started. video.incomplete at 0 % is a viewer leaving before the start.
# `percent` is quoted everywhere: it is a reserved word of Athena's DDL grammar.
PLAYBACK = ("(event_type IN ('video.played', 'video.paused', 'video.progressed', 'video.completed') "
            "OR (event_type = 'video.incomplete' AND \"percent\" > 0))")

# One row per session: its key, then its facts (aggregates of its tracked events).
SESSION_FACTS = f"""session_id,
  MIN(event_time) AS started_at,
  CAST(MIN(event_time) AS DATE) AS day,
  MAX(project_id) AS project_id,
  MAX(template_id) AS template_id,
  BOOL_OR(COALESCE(device_is_bot, FALSE)) AS is_bot,
  MAX(viewer_hash) AS viewer_hash,
  MAX(device_type) AS device_type,
  MAX(device_os) AS os,
  MAX(device_browser) AS browser,
  MAX(locale) AS locale,
  MAX(geo_country) AS country,
  MIN(CASE WHEN {PLAYBACK} THEN event_time END) AS first_play,
  MIN(CASE WHEN event_type = 'video.errored' THEN event_time END) AS first_error,
  MAX(CASE WHEN event_type = 'video.completed' THEN 1 ELSE 0 END) AS completed,
  MAX(CASE WHEN event_type = 'video.completed' THEN CAST(100 AS DOUBLE)
           WHEN event_type IN ('video.progressed', 'video.incomplete') THEN "percent"
           ELSE CAST(0 AS DOUBLE) END) AS max_percent,
  SUM(CASE WHEN event_type = 'cta.clicked' THEN 1 ELSE 0 END) AS cta_clicks,
  SUM(CASE WHEN event_type = 'interaction.engaged' THEN 1 ELSE 0 END) AS interactions,
  MAX(CASE WHEN event_type = 'autoplay.failed' THEN 1 ELSE 0 END) AS autoplay_failed"""
SESSIONS = f"\nSELECT\n  {SESSION_FACTS}\nFROM events\nWHERE {TRACKED}\nGROUP BY session_id\n"

# A viewer as a number: the last 120 bits of its hex hash (64 hex, checked at ingest), as good as the
# whole hash for any count (a collision needs ~1e18 viewers). Unique viewers count it, not the text:
# a distinct count over 128-bit numbers is ~3x faster than over 64-character strings, and scans a
# quarter of the bytes. `from_base` is Trino's; DuckDB gets it as a macro (DUCKDB_MACROS).
VIEWER_KEY = ("CAST(CAST(from_base(substr(viewer_hash, 35, 15), 16) AS DECIMAL(38, 0)) "
              "* 1152921504606846976 + from_base(substr(viewer_hash, 50, 15), 16) AS DECIMAL(38, 0))")
DUCKDB_MACROS = ("CREATE OR REPLACE MACRO from_base(digits, radix) AS CASE WHEN radix = 16 "
                 "THEN CAST('0x' || digits AS BIGINT) ELSE error('from_base: radix 16 only') END",)

# Additive session counts: sums over days, projects and templates stay exact.
SESSION_MEASURES: dict[str, str] = {
    "views": "COUNT(*)",
    "plays": "SUM(CASE WHEN first_play IS NOT NULL THEN 1 ELSE 0 END)",
    "completions": "SUM(completed)",
    # A later milestone implies the earlier ones, so late or merged milestones of short videos count.
    "reached_25": "SUM(CASE WHEN max_percent >= 25 THEN 1 ELSE 0 END)",
    "reached_50": "SUM(CASE WHEN max_percent >= 50 THEN 1 ELSE 0 END)",
    "reached_75": "SUM(CASE WHEN max_percent >= 75 THEN 1 ELSE 0 END)",
    "sum_max_percent": "SUM(CASE WHEN first_play IS NOT NULL THEN max_percent ELSE CAST(0 AS DOUBLE) END)",
    "cta_sessions": "SUM(CASE WHEN cta_clicks > 0 THEN 1 ELSE 0 END)",
    "cta_clicks": "SUM(cta_clicks)",
    "interaction_sessions": "SUM(CASE WHEN interactions > 0 THEN 1 ELSE 0 END)",
    "interactions": "SUM(interactions)",
    "playback_failures": ("SUM(CASE WHEN first_error IS NOT NULL AND (first_play IS NULL "
                          "OR first_error < first_play) THEN 1 ELSE 0 END)"),
    "exits_before_start": "SUM(CASE WHEN first_play IS NULL AND first_error IS NULL THEN 1 ELSE 0 END)",
    "autoplay_failures": "SUM(autoplay_failed)",
}
# API name -> session column.
DIMENSIONS: dict[str, str] = {"device_type": "device_type", "os": "os", "browser": "browser",
                              "locale": "locale", "country": "country"}

_KEYS = "day, project_id, template_id, is_bot"
_S_KEYS = "s.day, s.project_id, s.template_id, s.is_bot"
_MEASURES = ",\n  ".join(f"{expr} AS {name}" for name, expr in SESSION_MEASURES.items())


def _breakdown() -> str:
    # Grouping sets, not a UNION per dimension: Athena would read curated once per branch.
    dimension = " ".join(f"WHEN GROUPING({column}) = 0 THEN '{name}'" for name, column in DIMENSIONS.items())
    value = " ".join(f"WHEN GROUPING({column}) = 0 THEN {column}" for column in DIMENSIONS.values())
    sets = ", ".join(f"({_KEYS}, {column})" for column in DIMENSIONS.values())
    return (f"SELECT {_KEYS}, CASE {dimension} END AS dimension, CASE {value} END AS value,\n"
            f"  {_MEASURES}\nFROM sessions GROUP BY GROUPING SETS ({sets})")


# The engagement curve (translator/engagement.py): per bucket, the plays that watched it and watched it
# again, and the plays that carried watched buckets or not. Long, not wide: per day, project and
# template one row of plays (`bucket` null) and one row per bucket, so a query names four counts, not
# one column per bucket and series (planning 200 columns cost DuckDB most of a second a query).
ENGAGEMENT_SERIES = ("watched", "watched_again")
ENGAGEMENT_PLAYS = ("plays_with_data", "plays_without_data")
ENGAGEMENT_COUNTS = (*ENGAGEMENT_PLAYS, *ENGAGEMENT_SERIES)

# The buckets as a relation: per bucket the 1-based position of its hex character in a bucket set and
# the digits that set its bit, each between commas (so an empty character never matches).
BUCKET_BITS = "(VALUES " + ", ".join(
    f"({bucket}, {position}, ',{','.join(digits)},')"
    for bucket, (position, digits) in ((bucket, hex_digits_with_bit(bucket)) for bucket in range(BUCKETS))
) + ") AS buckets(bucket, bucket_at, bucket_digits)"


def bucket_bit(column: str) -> str:
    """1 when the bit of the row's bucket (BUCKET_BITS) is set in a bucket set's hex text, else 0
    (also for null): a character test, the same in DuckDB and Athena."""
    return (f"CASE WHEN strpos(bucket_digits, ',' || substr({column}, bucket_at, 1) || ',') > 0 "
            "THEN 1 ELSE 0 END")


# The events carrying a session's watched buckets, and per session and bucket a flag of each series:
# a session's sets are cumulative, so the union of its events' sets is its last one, and the union
# survives a lost or reordered last event.
WATCHED_EVENT = ("watched IS NOT NULL AND COALESCE(consent_tracking, FALSE) "
                 "AND event_type IN ('video.paused', 'video.incomplete', 'video.completed')")
WATCHED_FLAGS = ", ".join(f"MAX({bucket_bit(series)}) AS {series}" for series in ENGAGEMENT_SERIES)


def engagement_plays(has_data: str) -> str:
    """The plays row's counts over sessions with playback: `has_data` tells a session whose player
    sent watched buckets."""
    return (f"SUM(CASE WHEN {has_data} THEN 1 ELSE 0 END) AS plays_with_data,\n"
            f"  SUM(CASE WHEN {has_data} THEN 0 ELSE 1 END) AS plays_without_data")


_NO_PLAYS = ", ".join(f"CAST(NULL AS BIGINT) AS {name}" for name in ENGAGEMENT_PLAYS)
_NO_SERIES = ", ".join(f"CAST(NULL AS BIGINT) AS {name}" for name in ENGAGEMENT_SERIES)


def _engagement() -> str:
    with_data = f"SELECT DISTINCT session_id FROM events WHERE {WATCHED_EVENT}"
    flags = (f"SELECT session_id, bucket, {WATCHED_FLAGS}\nFROM events CROSS JOIN {BUCKET_BITS}\n"
             f"WHERE {WATCHED_EVENT} GROUP BY session_id, bucket")
    series = ", ".join(f"SUM(b.{name}) AS {name}" for name in ENGAGEMENT_SERIES)
    plays = engagement_plays("w.session_id IS NOT NULL")
    return (f"SELECT {_S_KEYS}, CAST(NULL AS BIGINT) AS bucket,\n  {plays},\n  {_NO_SERIES}\n"
            f"FROM sessions AS s LEFT JOIN ({with_data}) AS w ON s.session_id = w.session_id\n"
            f"WHERE s.first_play IS NOT NULL\nGROUP BY {_S_KEYS}\nUNION ALL\n"
            f"SELECT {_S_KEYS}, CAST(b.bucket AS BIGINT) AS bucket, {_NO_PLAYS}, {series}\n"
            f"FROM sessions AS s JOIN (\n  {flags}\n) AS b ON s.session_id = b.session_id\n"
            f"WHERE s.first_play IS NOT NULL\nGROUP BY {_S_KEYS}, b.bucket")


# Per item rollup: the event that is an entry of the item, the item's id and name columns, and the
# name of its count of events.
ITEMS: dict[str, tuple[str, str, str, str]] = {
    "ctas": ("cta.clicked", "cta_id", "cta_name", "clicks"),
    "chapters": ("chapter.entered", "chapter_id", "chapter_name", "entries"),
}


def item_event(event_type: str, prefix: str = "") -> str:
    return f"{prefix}event_type = '{event_type}' AND COALESCE({prefix}consent_tracking, FALSE)"


def _per_session_item(event_type: str, item: str, name: str, count: str) -> str:
    """Sessions (dated by the session) that produced an item event: CTA clicks, chapter entries."""
    return (f"SELECT {_S_KEYS}, e.{item}, MAX(e.{name}) AS {name}, COUNT(*) AS {count},\n"
            f"  COUNT(DISTINCT e.session_id) AS sessions\n"
            f"FROM events AS e JOIN sessions AS s ON e.session_id = s.session_id\n"
            f"WHERE {item_event(event_type, 'e.')}\n"
            f"GROUP BY {_S_KEYS}, e.{item}")


# Errors are operational: every video.errored event (with or without consent) on its own date.
ERROR_EVENT = "event_type = 'video.errored'"
ERROR_KEYS: dict[str, str] = {"day": "CAST(event_time AS DATE)", "project_id": "project_id",
                              "template_id": "template_id", "is_bot": "COALESCE(device_is_bot, FALSE)",
                              "error_code": "error_code"}
ERROR_MEASURES: dict[str, str] = {"errors": "COUNT(*)", "sessions": "COUNT(DISTINCT session_id)"}

# Per rollup table: its rows from the `events` and `sessions` layers, with a `day` column.
ROLLUP_BUILDS: dict[str, str] = {
    "daily": f"SELECT {_KEYS},\n  {_MEASURES}\nFROM sessions GROUP BY {_KEYS}",
    "breakdown": _breakdown(),
    "viewers": (f"SELECT DISTINCT {_KEYS}, viewer_hash, {VIEWER_KEY} AS viewer_key "
                "FROM sessions WHERE viewer_hash IS NOT NULL"),
    **{name: _per_session_item(*item) for name, item in ITEMS.items()},
    "engagement": _engagement(),
    "errors": (f"SELECT {', '.join(f'{expr} AS {name}' for name, expr in ERROR_KEYS.items())},\n"
               f"  {', '.join(f'{expr} AS {name}' for name, expr in ERROR_MEASURES.items())}\n"
               f"FROM events WHERE {ERROR_EVENT}\nGROUP BY {', '.join(ERROR_KEYS.values())}"),
}


def literal(value: date | datetime | int | float | str | bool | None) -> str:
    """A constant as SQL text, quoted safely (dates as CAST('YYYY-MM-DD' AS DATE))."""
    if isinstance(value, datetime):  # as naive UTC, how curated timestamps compare in both engines
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        text = value.isoformat(sep=" ", timespec="milliseconds")
        return f"CAST('{text}' AS TIMESTAMP)"
    return exp.convert(value).sql("duckdb")


def day_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days: [(first, last), ...]."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def day_predicate(column: str, days: Iterable[date]) -> str:
    """`column` (a DATE) is one of `days`; FALSE for none."""
    terms = [f"{column} = {literal(first)}" if first == last
             else f"{column} BETWEEN {literal(first)} AND {literal(last)}"
             for first, last in day_ranges(days)]
    return "(" + " OR ".join(terms) + ")" if terms else "FALSE"


def parse(sql: str) -> exp.Expr:
    return sqlglot.parse_one(sql, read="duckdb")


def bind(tree: exp.Expr, params: Mapping[str, Any]) -> exp.Expr:
    """Replace `:name` placeholders with quoted constants; every placeholder must have a value."""
    missing = {node.name for node in tree.find_all(exp.Placeholder)} - params.keys()
    if missing:
        raise ValueError(f"query parameters without a value: {sorted(missing)}")
    return exp.replace_placeholders(tree, **params) if params else tree


def table_names(tree: exp.Expr) -> set[str]:
    """Tables the query reads, not counting its own CTEs."""
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {table.name for table in tree.find_all(exp.Table) if table.name not in ctes}
