"""Engagement per viewer for a customer's own warehouse: given client-side viewer hashes, each one's
sessions, first and last session start, furthest percent, completion, CTA clicks by name and watched
buckets (the union over its plays, translator/engagement.py), overall and per project. The client
hashes stay in memory: queries name only their keyed forms (under every viewer key held), in batches
small enough for Athena's query-text limit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pipeline.governance.viewer_keys import ViewerKeys, keyed_viewer_hash
from pipeline.query.base import QueryEngine, Source
from pipeline.query.sql import SESSIONS, literal
from pipeline.query.tables import CURATED
from pipeline.reporting.names import Names
from translator.canonical import format_timestamp
from translator.engagement import decode, encode

MAX_HASHES = 10_000  # per request
BATCH = 2_000  # keyed forms per query: ~140 KB of SQL, within Athena's 256 KB


def lookup(engine: QueryEngine, org: str, client_hashes: Sequence[str], keys: ViewerKeys) -> dict[str, Any]:
    """{client hash: engagement} for checked client hashes (viewer_keys.client_hash); a hash never seen
    (bots excluded) maps to zero sessions."""
    owner: dict[str, str] = {}  # keyed form -> client hash
    for client in client_hashes:
        for secret in keys.ring.secrets:
            owner[keyed_viewer_hash(secret, client)] = client
    days = tuple(engine.partition_days(CURATED.name, org))
    projects: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    forms = sorted(owner)
    for start in range(0, len(forms) if days else 0, BATCH):
        for row in _query(engine, org, days, forms[start:start + BATCH]):
            into = projects[owner[row["viewer_hash"]]]
            project = into.setdefault(row["project_id"] or "", _empty(row["project_id"]))
            _merge(project, row)
    names = Names.read(engine.store, org)  # a name beside each project id
    return {client: names.label(_summary(list(projects.get(client, {}).values())))
            for client in client_hashes}


def _query(engine: QueryEngine, org: str, days: tuple[Any, ...], forms: list[str]) -> list[dict[str, Any]]:
    # A join with a VALUES list: DuckDB evaluates a 2,000-item IN list row by row (1.4 s a batch over
    # 15,000 events against 0.04 s for the join, measured).
    wanted = ", ".join(f"({literal(form)})" for form in forms)
    return engine.query(f"""
WITH events AS (
  SELECT c.* FROM curated AS c JOIN (SELECT h FROM (VALUES {wanted}) AS v(h)) AS w ON c.viewer_hash = w.h),
sessions AS ({SESSIONS})
SELECT 'sessions' AS part, viewer_hash, project_id, CAST(NULL AS VARCHAR) AS cta, COUNT(*) AS n,
  MIN(started_at) AS first_seen, MAX(started_at) AS last_seen,
  MAX(CASE WHEN first_play IS NOT NULL THEN max_percent ELSE CAST(0 AS DOUBLE) END) AS furthest,
  MAX(completed) AS completed, CAST(NULL AS VARCHAR) AS watched, CAST(NULL AS VARCHAR) AS watched_again
FROM sessions WHERE NOT is_bot GROUP BY viewer_hash, project_id
UNION ALL
SELECT 'cta' AS part, e.viewer_hash, e.project_id, COALESCE(e.cta_name, e.cta_id) AS cta, COUNT(*) AS n,
  CAST(NULL AS TIMESTAMP) AS first_seen, CAST(NULL AS TIMESTAMP) AS last_seen,
  CAST(NULL AS DOUBLE) AS furthest, CAST(NULL AS INTEGER) AS completed,
  CAST(NULL AS VARCHAR) AS watched, CAST(NULL AS VARCHAR) AS watched_again
FROM events AS e JOIN sessions AS s ON e.session_id = s.session_id
WHERE e.event_type = 'cta.clicked' AND COALESCE(e.consent_tracking, FALSE) AND NOT s.is_bot
GROUP BY e.viewer_hash, e.project_id, COALESCE(e.cta_name, e.cta_id)
UNION ALL
SELECT DISTINCT 'watched' AS part, e.viewer_hash, e.project_id, CAST(NULL AS VARCHAR) AS cta, 0 AS n,
  CAST(NULL AS TIMESTAMP) AS first_seen, CAST(NULL AS TIMESTAMP) AS last_seen,
  CAST(NULL AS DOUBLE) AS furthest, CAST(NULL AS INTEGER) AS completed, e.watched, e.watched_again
FROM events AS e JOIN sessions AS s ON e.session_id = s.session_id
WHERE e.watched IS NOT NULL AND e.event_type IN ('video.paused', 'video.incomplete', 'video.completed')
  AND COALESCE(e.consent_tracking, FALSE) AND NOT s.is_bot
""", org=org, sources=[Source(CURATED.name, days)])


def _empty(project_id: str | None) -> dict[str, Any]:
    return {"project_id": project_id, "sessions": 0, "first_seen": None, "last_seen": None,
            "furthest_percent": None, "completed": False, "ctas_clicked": {}, "watched": None,
            "watched_again": None}


def _merge(project: dict[str, Any], row: dict[str, Any]) -> None:
    """One query row into a project's engagement (a viewer keyed under two keys has two rows)."""
    if row["part"] == "cta":
        clicks = project["ctas_clicked"]
        clicks[row["cta"]] = clicks.get(row["cta"], 0) + row["n"]
        return
    if row["part"] == "watched":  # the union of the sets its plays sent (no player sent any: None)
        for name in ("watched", "watched_again"):
            held = decode(project[name]) if project[name] else frozenset()
            project[name] = encode(held | decode(row[name] or encode(())))
        return
    project["sessions"] += row["n"]
    project["first_seen"] = _pick(project["first_seen"], row["first_seen"], min)
    project["last_seen"] = _pick(project["last_seen"], row["last_seen"], max)
    project["furthest_percent"] = max(project["furthest_percent"] or 0.0, float(row["furthest"] or 0))
    project["completed"] = project["completed"] or bool(row["completed"])


def _pick(held: datetime | None, new: datetime | None, pick: Any) -> datetime | None:
    present = [value for value in (held, new) if value is not None]
    return pick(present) if present else None


def _summary(projects: list[dict[str, Any]]) -> dict[str, Any]:
    projects = sorted((p for p in projects if p["sessions"]), key=lambda p: p["project_id"] or "")
    total = _empty(None)
    for project in projects:
        _merge(total, {"part": "sessions", "n": project["sessions"], "first_seen": project["first_seen"],
                       "last_seen": project["last_seen"], "furthest": project["furthest_percent"],
                       "completed": project["completed"]})
        for name, clicks in project["ctas_clicked"].items():
            _merge(total, {"part": "cta", "cta": name, "n": clicks})
        if project["watched"] is not None:
            _merge(total, {"part": "watched", "watched": project["watched"],
                           "watched_again": project["watched_again"]})
    del total["project_id"]
    return {**_shown(total), "projects": [_shown(project) for project in projects]}


def _shown(engagement: dict[str, Any]) -> dict[str, Any]:
    """Times as ISO-8601 UTC text, CTAs by name."""
    return {**engagement, "first_seen": _time(engagement["first_seen"]),
            "last_seen": _time(engagement["last_seen"]),
            "ctas_clicked": dict(sorted(engagement["ctas_clicked"].items()))}


def _time(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)
