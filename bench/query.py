"""Summary-report latency over synthetic curated data: from rollups against from curated events.

    python -m bench.query [--quick] [--events N] [--runs N] [--json FILE]

Writes about `--events` events (default 10 million; --quick 300,000) over 30 days (--quick 14),
20 projects and 2 organizations straight into the curated zone of a temporary local store: one
Parquet file per (organization, hour), the curated schema, sessions with a realistic mix of event
types. The rows are generated with vectorised SQL in DuckDB and written with pyarrow; the compactor
(bench/compact.py) is not in the loop. Then, for one organization over those days, the median of
`--runs` warm runs of `pipeline.reporting.reports.summary` on the DuckDB engine:
  from curated  no rollups yet: sessions computed from the organization's ~5 M events (baseline);
  from rollups  after `build_rollups`: every day read from the rollups (goal: ≤ 100 ms at 10 M events);
  mixed         the steady state: the last 2 days from curated, the others from rollups.
Ratios are latency / the from-curated latency (lower is better). Both summaries must be equal.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import Report
from pipeline.curated import schema
from pipeline.layout import curated_key, rollup_key
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.query.tables import ROLLUPS
from pipeline.reporting import reports
from pipeline.reporting.rollups import build_rollups
from pipeline.reporting.selection import Selection
from pipeline.store.local import LocalStore

FIRST_DAY = date(2026, 10, 1)
DAYS, QUICK_DAYS = 30, 14
ORGS = ("acme", "globex")
PROJECTS, TEMPLATES, VIEWERS = 20, 10, 150_000
GOAL_MS = 100  # summary from rollups over 10 M events / 30 days (issue 18)
EVENTS_PER_SESSION = 6.7  # the mix below, measured; used to size the session count

# Per session: uniform draws from hashes of its number (deterministic, vectorised).
_SESSIONS = """
SELECT n, start, project_id, template_id, viewer_hash, device_type, device_os, device_browser, locale,
       geo_country, is_bot,
       r_play >= 15 AS played,
       CASE WHEN r_depth < 20 THEN 10 WHEN r_depth < 40 THEN 30 WHEN r_depth < 55 THEN 60
            WHEN r_depth < 70 THEN 80 ELSE 100 END AS depth,
       r_cta < 20 AS cta, r_error < 3 AS errored, r_autoplay < 5 AS autoplay_failed,
       r_pause < 30 AS paused, r_interaction < 10 AS engaged
FROM (
  SELECT n,
    $day + to_seconds((hash(n, 'start', $org) % 86400)::BIGINT) AS start,
    'proj-' || ((hash(n, 'project', $org) % {projects})::BIGINT) AS project_id,
    'tpl-' || ((hash(n, 'template', $org) % {templates})::BIGINT) AS template_id,
    sha256($org || ':' || ((hash(n, 'viewer', $org) % {viewers})::BIGINT)::VARCHAR) AS viewer_hash,
    (hash(n, 'device', $org) % 5)::BIGINT AS d,
    ['es-CL', 'es-AR', 'en-US', 'es-ES', 'pt-BR', NULL][(hash(n, 'locale', $org) % 6)::BIGINT + 1] AS locale,
    ['CL', 'AR', 'US', 'ES', 'MX', 'BR', NULL][(hash(n, 'country', $org) % 7)::BIGINT + 1] AS geo_country,
    (hash(n, 'bot', $org) % 100)::BIGINT < 2 AS is_bot,
    (hash(n, 'play', $org) % 100)::BIGINT AS r_play, (hash(n, 'depth', $org) % 100)::BIGINT AS r_depth,
    (hash(n, 'cta', $org) % 100)::BIGINT AS r_cta, (hash(n, 'error', $org) % 100)::BIGINT AS r_error,
    (hash(n, 'autoplay', $org) % 100)::BIGINT AS r_autoplay,
    (hash(n, 'pause', $org) % 100)::BIGINT AS r_pause,
    (hash(n, 'interaction', $org) % 100)::BIGINT AS r_interaction
  FROM range($first, $first + $count) AS t(n)
) AS drawn, LATERAL (SELECT
    ['desktop', 'mobile', 'mobile', 'tablet', 'desktop'][d + 1] AS device_type,
    ['Windows', 'iOS', 'Android', 'iPadOS', 'Mac OS X'][d + 1] AS device_os,
    ['Chrome', 'Mobile Safari', 'Chrome Mobile', 'Mobile Safari', 'Safari'][d + 1] AS device_browser)
"""
# (seconds after the start, event type, condition, percent, extra payload columns)
_STEPS = [
    (0, "session.started", "TRUE", "NULL", {}),
    (0, "consent.accepted", "TRUE", "NULL", {}),
    (1, "autoplay.failed", "autoplay_failed", "NULL", {"reason": "'NotAllowedError'"}),
    (2, "video.played", "played", "NULL", {"position_ms": "0"}),
    (2, "chapter.entered", "played", "NULL", {"chapter_id": "'intro'", "chapter_name": "'Intro'"}),
    (8, "video.progressed", "played AND depth >= 25", "25.0", {"position_ms": "7500"}),
    (10, "video.paused", "played AND paused", "NULL", {"position_ms": "9000"}),
    (12, "interaction.engaged", "played AND engaged", "NULL", {"interaction_id": "'survey'"}),
    (16, "video.progressed", "played AND depth >= 50", "50.0", {"position_ms": "15000"}),
    (20, "video.errored", "errored", "NULL", {"error_code": "'MEDIA_ERR_NETWORK'"}),
    (23, "video.progressed", "played AND depth >= 75", "75.0", {"position_ms": "22500"}),
    (31, "video.completed", "played AND depth = 100", "100.0", {"duration_ms": "30000"}),
    (31, "video.incomplete", "played AND depth < 100", "depth", {"duration_ms": "30000"}),
    (32, "cta.clicked", "played AND cta", "NULL", {"cta_id": "'buy'", "cta_name": "'Buy now'"}),
]


def _events_sql() -> str:
    parts = []
    for seconds, event_type, condition, percent, extra in _STEPS:
        payload = ", ".join(f"{value} AS {name}" for name, value in extra.items())
        parts.append(
            f"SELECT n, start + INTERVAL {seconds} SECOND AS event_time, '{event_type}' AS event_type, "
            f"CAST({percent} AS DOUBLE) AS percent{', ' + payload if payload else ''} "
            f"FROM sessions WHERE {condition}")
    return "\nUNION ALL BY NAME\n".join(parts)


def generate(store: LocalStore, events: int, days: int = DAYS) -> dict[str, int]:
    """Write the synthetic curated zone; returns the number of events written per organization."""
    sessions_per_day = max(1, round(events / EVENTS_PER_SESSION / days / len(ORGS)))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    template = _SESSIONS.format(projects=PROJECTS, templates=TEMPLATES, viewers=VIEWERS)
    written = dict.fromkeys(ORGS, 0)
    for org in ORGS:
        for offset in range(days):
            day = datetime.combine(FIRST_DAY + timedelta(days=offset), datetime.min.time(), UTC)
            con.execute(f"CREATE OR REPLACE TEMP TABLE sessions AS {template}",
                        {"day": day, "org": org, "first": offset * sessions_per_day,
                         "count": sessions_per_day})
            rows = con.sql(
                f"SELECT e.* EXCLUDE (n), s.* EXCLUDE (n, start), uuid()::VARCHAR AS event_id, "
                f"s.n::VARCHAR AS session_key, e.event_time + INTERVAL 1 SECOND AS received_at "
                f"FROM ({_events_sql()}) AS e JOIN sessions AS s USING (n)").to_arrow_table()
            written[org] += _write_day(store, org, rows)
    return written


def _write_day(store: LocalStore, org: str, rows: pa.Table) -> int:
    """One org-day of generated rows as curated hour files (appending to a file a previous day
    spilled into just after midnight)."""
    n = rows.num_rows
    prefix = f"00000000-0000-4000-8000-{ORGS.index(org):04d}"
    session_ids = pc.binary_join_element_wise(pa.repeat(prefix, n),
                                              pc.utf8_lpad(rows.column("session_key"), 8, "0"), "")
    table = rows.append_column("schema_version", pa.repeat("1", n))
    for name, column in (("organization_id", pa.repeat(org, n)), ("occurred_at", rows.column("event_time")),
                         ("session_id", session_ids), ("consent_tracking", pa.repeat(True, n)),
                         ("device_is_bot", rows.column("is_bot"))):
        table = table.append_column(name, column)
    table = schema.conform(table).sort_by([("received_at", "ascending"), ("event_id", "ascending")])
    stamps = table.column("received_at")
    hours = pc.add(pc.multiply(pc.day(stamps), 24), pc.hour(stamps))
    start = 0
    for item in pc.value_counts(hours).to_pylist():  # sorted rows: first-seen order is time order
        part = table.slice(start, item["counts"])
        hour = part.column("received_at")[0].as_py().replace(minute=0, second=0, microsecond=0, tzinfo=None)
        path = store.local_path(curated_key(org, hour))
        if path.exists():
            part = pa.concat_tables([pq.read_table(path), part])
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, path, compression="snappy")
        start += item["counts"]
    return n


def median_ms(run: Callable[[], dict[str, Any]], runs: int) -> tuple[float, dict[str, Any]]:
    result = run()  # warm: file metadata cached, code paths loaded
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help=f"300,000 events over {QUICK_DAYS} days, 5 runs")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    events, runs, days = (300_000, 5, QUICK_DAYS) if args.quick else (args.events, args.runs, DAYS)
    report = Report("query")
    last_day = FIRST_DAY + timedelta(days=days - 1)
    window, today = Selection(date_from=FIRST_DAY, date_to=last_day), last_day + timedelta(days=7)
    with tempfile.TemporaryDirectory() as root:
        store = LocalStore(Path(root))
        began = time.perf_counter()
        written = generate(store, events, days)
        seconds = round(time.perf_counter() - began, 1)
        report.add("generated", sum(written.values()), "events", seconds=seconds)
        engine = DuckDbEngine(store)

        def summary() -> dict[str, Any]:
            return reports.summary(engine, ORGS[0], window, today=today)

        curated_ms, from_curated = median_ms(summary, runs)
        began = time.perf_counter()
        # The reported organization's days only: the other's build is the same work again.
        built = build_rollups(store, org=ORGS[0], today=today)
        build_s = time.perf_counter() - began
        rollups_ms, from_rollups = median_ms(summary, runs)
        if from_rollups != from_curated:
            raise SystemExit(f"summaries differ:\n  rollups {from_rollups}\n  curated {from_curated}")
        for offset in (days - 2, days - 1):  # the steady state: the last two days not rolled up yet
            for name in ROLLUPS:
                store.delete(rollup_key(name, ORGS[0], FIRST_DAY + timedelta(days=offset)))
        mixed_ms, from_mixed = median_ms(summary, runs)
        if from_mixed != from_curated:
            raise SystemExit(f"summaries differ:\n  mixed {from_mixed}\n  curated {from_curated}")

        report.add("summary from rollups", rollups_ms, "ms", ratio=rollups_ms / curated_ms,
                   baseline="from curated", goal=f"≤{GOAL_MS} ms")
        report.add("summary from curated", curated_ms, "ms")
        report.add(f"summary mixed ({days - 2} days rollups, 2 days curated)", mixed_ms, "ms",
                   ratio=mixed_ms / curated_ms, baseline="from curated")
        report.add(f"rollup build ({ORGS[0]}, {len(built.days_built)} days)", build_s, "s",
                   events_per_s=round(written[ORGS[0]] / build_s))
        print(f"({written[ORGS[0]]:,} events, {from_curated['views']:,} views of {ORGS[0]} over {days} days)")
    report.write_json(args.json)


if __name__ == "__main__":
    main()
