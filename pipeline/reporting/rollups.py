"""Daily rollups: additive counts per organization, date, project, template and bot flag (tables in
`pipeline/query/tables.py`, SQL in `pipeline/query/sql.py`), so a report over any range is a sum of
rows plus one distinct count over `viewers`. How days are dated and when they are rebuilt:
docs/architecture.md (Compaction and rollups).
"""

from __future__ import annotations

import hashlib
import json
import weakref
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TypedDict

import duckdb
import pyarrow as pa

from pipeline import layout, parquet
from pipeline.curated import commits, schema
from pipeline.layout import rollup_key
from pipeline.progress import Progress
from pipeline.query.sql import DUCKDB_MACROS, ROLLUP_BUILDS, SESSIONS, literal
from pipeline.query.tables import COMMIT_ROLLUP, CURATED, ROLLUPS
from pipeline.store.base import Store

ROLLUP_VERSION = 4  # 2: engagement, 3: viewer_key, 4: engagement by bucket rows; bump on a change of
# definition: every day goes stale
WINDOW = timedelta(days=1)  # curated days read on each side of the day rolled up
ONE_DAY = timedelta(days=1)
_ORDER = [name for name in ROLLUPS if name != COMMIT_ROLLUP] + [COMMIT_ROLLUP]
# Viewer ids are random: snappy saves little of a viewers file and slows every read of it, the bulk
# of a summary from rollups (bench/query.py, 10 M events: summary median ~0.7x uncompressed).
_COMPRESSION = {"viewers": "none"}


@dataclass
class RollupReport:
    days_built: list[tuple[str, date]] = field(default_factory=list)  # (organization, day)
    days_fresh: int = 0  # skipped: inputs unchanged since their last build
    days_without_data: list[tuple[str, date]] = field(default_factory=list)  # nothing to read
    files_written: int = 0
    rows_written: int = 0
    sessions: int = 0  # sessions dated on the days built (bots included)


def last_closed_day(today: date) -> date:
    """The last day whose curated window is over (its next day has ended). Reports read rollups
    only up to it: a rollup of a later day may already miss events received since it was built."""
    return today - 2 * ONE_DAY


class _State(TypedDict):
    """The record of a day's last build, at layout.rollup_state_key."""

    version: int  # ROLLUP_VERSION
    inputs: str  # _fingerprint of the curated days read
    window: list[str]  # the curated days read, ISO dates
    written: bool  # whether the day's files were written


# Days known built by this version, by store: a day's record is read once per process, as a day
# once current stays current (a rebuild writes the same version).
_CURRENT: weakref.WeakKeyDictionary[Store, set[tuple[str, date]]] = weakref.WeakKeyDictionary()


def current_days(store: Store, org: str, days: list[date]) -> set[date]:
    """Those of `days` whose rollup was built by this ROLLUP_VERSION. A day built by an earlier one
    holds the columns of its time (an upgrade, until the next rollup run rebuilds it): reports read
    such a day from curated meanwhile."""
    known = _CURRENT.setdefault(store, set())
    for day in days:
        if (org, day) in known:
            continue
        record = _record(store, org, day)
        if record is not None and record.get("version") == ROLLUP_VERSION:
            known.add((org, day))
    return {day for day in days if (org, day) in known}


def build_rollups(store: Store, *, day: date | None = None, org: str | None = None,
                  progress: Progress[RollupReport] | None = None, today: date | None = None) -> RollupReport:
    """Build the rollups of one day (rebuilt unconditionally) or, with `day=None`, of every closed
    day whose inputs changed; for one organization or all. `today` (UTC) is for tests."""
    report = RollupReport()
    received = _received_days(store, org)
    plan: list[tuple[str, date]] = []
    if day is not None:
        plan = [(name, day) for name in sorted(received if org is None else {org})]
    else:
        last_closed = last_closed_day(today or datetime.now(UTC).date())
        for name, days in sorted(received.items()):
            rolled = set(ROLLUPS[COMMIT_ROLLUP].days(store, name))
            candidates = sorted({d + k * ONE_DAY for d in days for k in (-1, 0, 1)})
            for candidate in (d for d in candidates if d <= last_closed):
                if _stale(store, name, candidate, days, candidate in rolled):
                    plan.append((name, candidate))
                else:
                    report.days_fresh += 1
    for number, (name, planned) in enumerate(plan, 1):
        _build_day(store, name, planned, report)
        if progress is not None:
            progress(number, len(plan), report)
    return report


def _received_days(store: Store, org: str | None) -> dict[str, set[date]]:
    """Curated partition days by organization."""
    if org is not None:
        return {org: set(CURATED.days(store, org))}
    found: dict[str, set[date]] = {}
    for key in store.list(layout.CURATED.prefix):
        day, org_of_key = CURATED.day_of(key), layout.org_of(key)
        if day is not None and org_of_key is not None:
            found.setdefault(org_of_key, set()).add(day)
    return found


def _fingerprint(store: Store, org: str, day: date) -> str:
    """What the day's rollup was built from: the compactor's commits of its curated window."""
    digest = hashlib.sha256(f"rollups v{ROLLUP_VERSION}\n".encode())
    for offset in (-1, 0, 1):
        manifest = commits.manifest_bytes(store, org, day + offset * ONE_DAY)
        digest.update(hashlib.sha256(manifest or b"-").digest())
    return digest.hexdigest()


def _window(day: date) -> list[date]:
    return [day - WINDOW, day, day + WINDOW]


def _record(store: Store, org: str, day: date) -> _State | None:
    """The record of the day's last build; None before its first."""
    try:
        record: _State = json.loads(store.get(layout.rollup_state_key(org, day)))
    except KeyError:
        return None
    return record


def _stale(store: Store, org: str, day: date, received: set[date], rolled: bool) -> bool:
    record = _record(store, org, day)
    if record is None:
        return True
    if set(record["window"]) - {d.isoformat() for d in received}:
        return False  # curated data it was built from is gone (retention): keep what was built
    return record["inputs"] != _fingerprint(store, org, day) or record["written"] != rolled


def _build_day(store: Store, org: str, day: date, report: RollupReport) -> None:
    inputs = _fingerprint(store, org, day)  # before reading: a later change shows as stale
    keys = CURATED.keys(store, org, _window(day))
    if not keys:
        report.days_without_data.append((org, day))
        return
    con = duckdb.connect(config={"python_enable_replacements": False})
    try:
        con.execute("SET TimeZone = 'UTC'")
        for macro in DUCKDB_MACROS:
            con.execute(macro)
        _load_events(con, store, [key for _, key in keys])
        con.execute(f"CREATE TEMP TABLE sessions AS {SESSIONS}")
        tables = {name: _rows(con, name, day) for name in _ORDER}
    finally:
        con.close()
    own_day = any(key_day == day for key_day, _ in keys)
    written = own_day or any(table.num_rows for table in tables.values())
    if written:
        for name in _ORDER:
            store.put(rollup_key(name, org, day),
                      parquet.to_bytes(tables[name], compression=_COMPRESSION.get(name, "snappy")))
            report.files_written += 1
            report.rows_written += tables[name].num_rows
    window = sorted({key_day.isoformat() for key_day, _ in keys})
    record: _State = {"version": ROLLUP_VERSION, "inputs": inputs, "window": window, "written": written}
    store.put(layout.rollup_state_key(org, day), json.dumps(record).encode())
    report.days_built.append((org, day))
    report.sessions += sum(tables[COMMIT_ROLLUP].column("views").to_pylist())


def _load_events(con: duckdb.DuckDBPyConnection, store: Store, keys: list[str]) -> None:
    paths = [store.local_path(key) for key in keys]
    if all(path is not None for path in paths):
        files = ", ".join(literal(str(path)) for path in paths)
        con.execute(f"CREATE TEMP VIEW events AS SELECT * FROM read_parquet([{files}], union_by_name = true)")
    else:
        con.register("events", pa.concat_tables(
            [schema.conform(parquet.from_bytes(store.get(key))) for key in keys]))


def _rows(con: duckdb.DuckDBPyConnection, name: str, day: date) -> pa.Table:
    rollup_schema = ROLLUPS[name].schema
    columns = ", ".join(rollup_schema.names)
    query = (f"SELECT {columns} FROM ({ROLLUP_BUILDS[name]}) AS built "
             f"WHERE day = {literal(day)} ORDER BY ALL")
    return con.sql(query).to_arrow_table().cast(rollup_schema)
