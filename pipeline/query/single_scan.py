"""The builds of `sql.py` in shapes that read curated once per statement, for engines billed by scan.

Trino (Athena) does not materialize CTEs: the layered shapes of `sql.py` (events, then sessions, then
builds, several builds reading one CTE) read curated once per reference, and Athena bills (and its
workgroup cutoff counts) every byte scanned. These shapes compute the same rows from the same
definitions in one pass over curated: each aggregate filtered to its purpose (FILTER) instead of a
WHERE per layer, and grouping sets instead of a UNION or a join per build. DuckDB materializes CTEs
and keeps the layered shapes (bench/query.py measures them).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from pipeline.query.sql import (
    BUCKET_BITS,
    ENGAGEMENT_SERIES,
    ERROR_EVENT,
    ERROR_KEYS,
    ERROR_MEASURES,
    ITEMS,
    SESSION_FACTS,
    SESSION_MEASURES,
    TRACKED,
    VIEWER_KEY,
    WATCHED_EVENT,
    WATCHED_FLAGS,
    engagement_plays,
    item_event,
    parse,
)

_KEYS = ("day", "project_id", "template_id", "is_bot")
_MEASURES = ",\n  ".join(f"{expr} AS {name}" for name, expr in SESSION_MEASURES.items())
# Parts of `summary_build`, each with the rows of its rollup table.
SUMMARY_PARTS = ("daily", "viewers", "errors")


def filtered(select_list: str, condition: str, only: tuple[str, ...] | None = None) -> str:
    """A select list (its columns named in `only`) with each aggregate restricted to the rows meeting
    `condition`."""
    where = parse(condition)

    def restrict(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.AggFunc) and not isinstance(node.parent, exp.Filter):
            return exp.Filter(this=node.copy(), expression=exp.Where(this=where.copy()))
        return node

    tree = parse(f"SELECT {select_list}").transform(restrict)
    return ",\n  ".join(expression.sql("duckdb") for expression in tree.expressions
                        if only is None or expression.alias_or_name in only)


def _names(select_list: str) -> list[str]:
    return [expression.alias_or_name for expression in parse(f"SELECT {select_list}").expressions]


def _error_columns() -> tuple[dict[str, str], str]:
    keys = {f"e_{name}": expr for name, expr in ERROR_KEYS.items()}
    measures = ", ".join(f"{expr} AS error_{name}" for name, expr in ERROR_MEASURES.items())
    return keys, filtered(measures, ERROR_EVENT)


def _scan() -> str:
    """Curated read once, grouped two ways: per session (its facts, as sql.SESSIONS; `of_errors` 0) and
    per errors key (the errors build's counts; `of_errors` 1)."""
    keys, measures = _error_columns()
    projected = ", ".join(f"{expr} AS {name}" for name, expr in keys.items())
    return (f"SELECT GROUPING(session_id) AS of_errors,\n  {filtered(SESSION_FACTS, TRACKED)},\n"
            f"  COUNT(*) FILTER (WHERE {TRACKED}) AS tracked_events,\n  {', '.join(keys)},\n  {measures}\n"
            f"FROM (SELECT *, {projected} FROM curated) AS events\n"
            f"GROUP BY GROUPING SETS ((session_id), ({', '.join(keys)}))")


def summary_build(day_predicate: str) -> str:
    """The rows the daily, viewers and errors builds give for the days of `day_predicate` (over `day`),
    in one relation tagged by `part`, from one read of curated. Columns: part, day, project_id,
    template_id, is_bot, viewer_hash, viewer_key, error_code, the session measures, errors, sessions."""
    facts = [name for name in _names(SESSION_FACTS) if name not in (*_KEYS, "session_id", "viewer_hash")]
    unified = ", ".join(f"CASE WHEN of_errors = 1 THEN e_{key} ELSE {key} END AS {key}" for key in _KEYS)
    rows = (f"SELECT CASE WHEN of_errors = 1 THEN 'errors' ELSE 'sessions' END AS kind, {unified},\n"
            f"  CASE WHEN of_errors = 0 THEN viewer_hash END AS viewer_hash, e_error_code AS error_code,\n"
            f"  {', '.join(facts)}, {', '.join(f'error_{name}' for name in ERROR_MEASURES)}\n"
            f"FROM ({_scan()}) AS scanned\n"
            "WHERE (of_errors = 0 AND tracked_events > 0) OR (of_errors = 1 AND error_errors > 0)")
    errors = ", ".join(f"SUM(error_{name}) AS {name}" for name in ERROR_MEASURES)
    keys = ", ".join(_KEYS)
    # Per session key: one daily row, one errors row per code, one viewers row per viewer.
    return (f"SELECT CASE WHEN GROUPING(viewer_hash) = 0 THEN 'viewers' WHEN kind = 'errors' THEN 'errors' "
            f"ELSE 'daily' END AS part,\n  {keys}, viewer_hash, {VIEWER_KEY} AS viewer_key, error_code,\n"
            f"  {_MEASURES},\n  {errors}\n"
            f"FROM ({rows}) AS tagged\nWHERE {day_predicate}\n"
            f"GROUP BY GROUPING SETS ((kind, {keys}, error_code), (kind, {keys}, viewer_hash))\n"
            "HAVING GROUPING(viewer_hash) = 1 OR (kind = 'sessions' AND viewer_hash IS NOT NULL)")


def item_build(name: str) -> Callable[[str], str]:
    """The rows of an item build (`ctas`, `chapters`) for the days of a day predicate (over `day`),
    tagged `part`, from one read of curated: grouped per session and per session and item, the
    session's keys carried to its item rows by a window instead of a join."""
    event_type, item, label, count = ITEMS[name]
    event = item_event(event_type)
    scan = (f"SELECT GROUPING({item}) AS of_session, session_id, {item},\n"
            f"  {filtered(SESSION_FACTS, TRACKED, only=_KEYS)},\n"
            f"  COUNT(*) FILTER (WHERE {TRACKED}) AS tracked_events,\n"
            f"  MAX({label}) FILTER (WHERE {event}) AS {label},\n"
            f"  COUNT(*) FILTER (WHERE {event}) AS {count}\n"
            f"FROM curated GROUP BY GROUPING SETS ((session_id), (session_id, {item}))")
    carried = ", ".join(f"MAX(CASE WHEN of_session = 1 THEN {column} END) OVER (PARTITION BY session_id) "
                        f"AS {column}" for column in (*_KEYS, "tracked_events"))
    rows = f"SELECT of_session, session_id, {item}, {label}, {count}, {carried} FROM ({scan}) AS scanned"
    keys = ", ".join(_KEYS)

    def build(day_predicate: str) -> str:
        return (f"SELECT '{name}' AS part, {keys}, {item}, MAX({label}) AS {label},\n"
                f"  SUM({count}) AS {count}, COUNT(*) AS sessions\nFROM ({rows}) AS items\n"
                f"WHERE of_session = 0 AND {count} > 0 AND tracked_events > 0 AND session_id IS NOT NULL "
                f"AND {day_predicate}\nGROUP BY {keys}, {item}")
    return build


def engagement_build(day_predicate: str) -> str:
    """The rows of the engagement and daily builds for the days of `day_predicate` (over `day`), tagged
    `part`, from one read of curated: each event carrying watched buckets joined to the buckets, grouped
    per session (its facts, every event counted once) and per session and bucket (its flags), the
    session's facts carried to its bucket rows by a window instead of a join."""
    once = "(bucket IS NULL OR bucket = 0)"  # an event's own row, not one of its copies per bucket
    facts = [name for name in _names(SESSION_FACTS) if name != "session_id"]
    carried = ("day", "project_id", "template_id", "is_bot", "first_play", "tracked_events")
    session_facts = filtered(SESSION_FACTS, f"({TRACKED}) AND {once}")
    scan = (f"SELECT GROUPING(bucket) AS of_session, bucket,\n  {session_facts},\n"
            f"  COUNT(*) FILTER (WHERE ({TRACKED}) AND {once}) AS tracked_events,\n"
            f"  COUNT(*) FILTER (WHERE ({WATCHED_EVENT}) AND {once}) AS watched_events,\n"
            f"  {filtered(WATCHED_FLAGS, WATCHED_EVENT)}\n"
            f"FROM curated LEFT JOIN {BUCKET_BITS} ON {WATCHED_EVENT}\n"
            "GROUP BY GROUPING SETS ((session_id), (session_id, bucket))")
    windowed = ", ".join(f"MAX(CASE WHEN of_session = 1 THEN {name} END) OVER (PARTITION BY session_id) "
                         f"AS {name}" for name in carried)
    own = ", ".join(name for name in facts if name not in carried)
    rows = (f"SELECT of_session, bucket, watched_events, {', '.join(ENGAGEMENT_SERIES)}, {own}, {windowed}\n"
            f"FROM ({scan}) AS scanned")
    keys = ", ".join(_KEYS)
    series = ", ".join(f"SUM({name}) FILTER (WHERE of_session = 0) AS {name}" for name in ENGAGEMENT_SERIES)
    daily = filtered(_MEASURES, "part = 'daily'")
    plays = filtered(engagement_plays("watched_events > 0"), "part = 'engagement'")
    # The sessions once per part and their bucket rows in the engagement part, which counts sessions
    # with playback only.
    return (f"SELECT part, {keys}, CAST(bucket AS BIGINT) AS bucket,\n"
            f"  {daily},\n  {plays},\n  {series}\n"
            f"FROM ({rows}) AS sessions CROSS JOIN (VALUES ('daily'), ('engagement')) AS parts(part)\n"
            f"WHERE tracked_events > 0 AND {day_predicate} AND (of_session = 1 OR bucket IS NOT NULL)\n"
            "  AND ((part = 'daily' AND of_session = 1)\n"
            "       OR (part = 'engagement' AND first_play IS NOT NULL))\n"
            f"GROUP BY part, {keys}, bucket")
