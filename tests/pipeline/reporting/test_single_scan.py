"""Reports on an engine billed by scan (Athena) read each curated partition once per statement, and
give the numbers of the layered shapes DuckDB runs (both shapes run here on DuckDB, over the known
sessions of tests/pipeline/_sessions.py and the outcomes of tests/pipeline/_outcomes.py)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from pipeline.governance.viewer_keys import ViewerKeys
from pipeline.query.athena_engine import AthenaEngine
from pipeline.query.base import Row, Source
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.query.sql import DIMENSIONS
from pipeline.reporting import outcomes, projects, reports, viewer_lookup
from pipeline.reporting.rollups import build_rollups
from pipeline.reporting.selection import Selection
from pipeline.store.local import LocalStore
from tests.pipeline._outcomes import RANGE, TODAY, known_outcomes
from tests.pipeline._sessions import ingest, known_sessions

D1 = RANGE.date_from
Report = Callable[..., Any]



def _breakdown(engine: Any, org: str, selection: Selection, *, today: date, dimension: str) -> Any:
    return reports.breakdown(engine, org, dimension, selection, today=today)


def _outcomes(engine: Any, org: str, selection: Selection, *, today: date) -> Any:
    return outcomes.outcomes(engine, org, "policy_renewed", selection, audience="letters", today=today)


REPORTS: dict[str, Report] = {
    "summary": reports.summary, "daily_summaries": reports.daily_summaries, "projects": reports.projects,
    "dropoff": reports.dropoff, "ctas": reports.ctas, "chapters": reports.chapters,
    **{f"breakdown_{name}": partial(_breakdown, dimension=name) for name in DIMENSIONS},
    "errors": reports.errors, "engagement": reports.engagement, "outcomes": _outcomes,
    "project_ids": lambda engine, org, selection, today: projects.project_ids(
        engine, org, selection.date_from, selection.date_to, today=today),
}


class ScanBilled(DuckDbEngine):
    """DuckDB running the shapes rendered for engines billed by scan."""

    billed_by_scan = True


class Rendering(AthenaEngine):
    """Renders each statement for Athena and keeps it; the rows come from DuckDB (the same shape)."""

    def __init__(self, store: LocalStore) -> None:
        super().__init__(store, client=object())
        self.statements: list[str] = []
        self._rows = ScanBilled(store)

    def query(self, text: str, *, org: str, sources: Sequence[Source],
              params: Mapping[str, Any] | None = None) -> list[Row]:
        self.statements.append(self.render(text, org=org, sources=sources, params=params))
        return self._rows.query(text, org=org, sources=sources, params=params)


def curated_reads(statement: str, table: str = "curated") -> int:
    """How many times Trino reads the curated table (or another) to run a statement: it inlines each
    CTE at every reference, so a CTE's reads count once per reference."""
    tree = sqlglot.parse_one(statement, read="trino")
    ctes = {cte.alias_or_name: cte.this for cte in tree.find_all(exp.CTE)}

    def reads(query: exp.Expr) -> int:
        body = query.copy()
        for clause in list(body.find_all(exp.With)):
            clause.pop()
        return sum(reads(ctes[read.name]) if read.name in ctes and not read.db
                   else int(read.name == table) for read in body.find_all(exp.Table))

    return reads(tree)


@pytest.fixture(scope="module")
def curated_only(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    store = LocalStore(tmp_path_factory.mktemp("single_scan") / "bucket")
    ingest(store, *known_sessions())  # errors, CTAs, chapters, watched buckets
    known_outcomes(store)
    return store


@pytest.fixture(scope="module", params=["curated", "mixed", "rolled"])
def data(request: pytest.FixtureRequest, curated_only: LocalStore,
         tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    """The scenario with no day rolled up, with its first day rolled up, and with every day rolled up."""
    if request.param == "curated":
        return curated_only
    root = tmp_path_factory.mktemp(request.param) / "bucket"
    shutil.copytree(curated_only.root, root)
    store = LocalStore(root)
    if request.param == "mixed":
        build_rollups(store, day=D1)
    else:
        build_rollups(store, today=TODAY)
    return store


SELECTIONS = [RANGE, replace(RANGE, include_bots=True), replace(RANGE, project_id="p1"),
              replace(RANGE, date_to=D1), Selection()]


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_the_single_scan_shapes_give_the_numbers_of_the_layered_shapes(name: str, data: LocalStore) -> None:
    report, layered, billed = REPORTS[name], DuckDbEngine(data), ScanBilled(data)
    try:
        for selection in SELECTIONS:
            expected = report(layered, "acme", selection, today=TODAY)
            assert report(billed, "acme", selection, today=TODAY) == expected, selection
    finally:
        layered.close()
        billed.close()


# Every function the rendered statements call, each one Trino's (Athena engine v3).
TRINO_FUNCTIONS = {"AVG", "BOOL_OR", "CAST", "COALESCE", "CONCAT", "COUNT", "DATE_DIFF", "DATE_TRUNC",
                   "FIRST_VALUE", "FROM_BASE", "GROUPING", "IF", "MAX", "MIN", "ROW_NUMBER", "STRPOS",
                   "SUBSTR", "SUM"}


def trino_functions(statement: str) -> set[str]:
    """The functions a statement calls, as Trino names them; a construct sqlglot knows Trino lacks
    raises, and a function it does not know (no Trino rendering) fails."""
    sqlglot.transpile(statement, read="trino", write="trino", unsupported_level=sqlglot.ErrorLevel.RAISE)
    functions = list(sqlglot.parse_one(statement, read="trino").find_all(exp.Func))
    assert not [function for function in functions if isinstance(function, exp.Anonymous)]
    calls = (re.match(r"([A-Z_]+)\(", function.sql("trino")) for function in functions)
    return {call.group(1) for call in calls if call}


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_every_statement_of_a_report_on_athena_reads_curated_once_with_trino_functions(
        name: str, data: LocalStore) -> None:
    engine = Rendering(data)
    REPORTS[name](engine, "acme", RANGE, today=TODAY)
    assert engine.statements
    assert [curated_reads(statement) for statement in engine.statements if '"curated"' in statement] == [
        1 for statement in engine.statements if '"curated"' in statement]
    called = set().union(*map(trino_functions, engine.statements))
    assert called <= TRINO_FUNCTIONS, called - TRINO_FUNCTIONS


def test_the_outcomes_report_on_athena_reads_outcomes_and_audiences_once_too(data: LocalStore) -> None:
    engine = Rendering(data)
    _outcomes(engine, "acme", RANGE, today=TODAY)
    (statement,) = engine.statements
    assert [curated_reads(statement, table) for table in ("curated", "outcomes", "audiences")] == [1, 1, 1]


def test_live_reads_curated_once_per_statement(curated_only: LocalStore) -> None:
    engine = Rendering(curated_only)
    reports.live(engine, "acme", now=datetime(2026, 11, 24, 12, tzinfo=UTC))
    assert [curated_reads(statement) for statement in engine.statements] == [1, 1]


def test_the_counter_counts_a_cte_once_per_reference() -> None:
    statement = ('WITH e AS (SELECT * FROM "percus"."curated"), s AS (SELECT * FROM e) '
                 "SELECT * FROM s UNION ALL SELECT * FROM e JOIN s ON TRUE")
    assert curated_reads(statement) == 3


def test_a_range_without_rolled_up_days_renders_no_rollup_branch(curated_only: LocalStore) -> None:
    for billed in (False, True):
        engine = Rendering(curated_only)
        engine._rows.billed_by_scan = engine.billed_by_scan = billed
        reports.summary(engine, "acme", RANGE, today=TODAY)
        (statement,) = engine.statements
        assert "rollup_" not in statement and "AND FALSE" not in statement
        assert '"percent"' in statement  # reserved in Athena's DDL grammar: always quoted


def test_a_range_of_rolled_up_days_only_reads_no_curated(tmp_path: Path, curated_only: LocalStore) -> None:
    shutil.copytree(curated_only.root, tmp_path / "bucket")
    store = LocalStore(tmp_path / "bucket")
    build_rollups(store, today=TODAY)
    engine = Rendering(store)
    reports.summary(engine, "acme", RANGE, today=TODAY)
    (statement,) = engine.statements
    assert '"curated"' not in statement and "AND FALSE" not in statement


def test_the_scenario_has_something_of_every_report(curated_only: LocalStore) -> None:
    engine = DuckDbEngine(curated_only)
    summary = reports.summary(engine, "acme", RANGE, today=TODAY)
    assert summary["views"] and summary["errors"] and summary["unique_viewers"] and summary["cta_clicks"]
    assert reports.chapters(engine, "acme", RANGE, today=TODAY)["chapters"]
    assert reports.engagement(engine, "acme", RANGE, today=TODAY)["plays_with_data"]
    assert _outcomes(engine, "acme", RANGE, today=TODAY)["converted"]


def test_a_table_without_days_to_read_is_an_empty_relation_not_a_read(curated_only: LocalStore) -> None:
    statement = Rendering(curated_only).render(
        "SELECT COUNT(*) AS n, COUNT(viewer_hash) AS v FROM audiences", org="acme",
        sources=[Source("audiences", ())])
    assert '"percus"' not in statement and "AND FALSE" not in statement
    assert duckdb.sql(statement).fetchall() == [(0, 0)]


def test_the_viewer_lookup_reads_curated_once_per_batch(curated_only: LocalStore) -> None:
    engine = Rendering(curated_only)
    keys = ViewerKeys.parse("v2:new-key,v1:old-key")
    viewer_lookup.lookup(engine, "acme", [f"{n:064x}" for n in range(viewer_lookup.BATCH)], keys)
    assert [curated_reads(statement) for statement in engine.statements] == [1, 1]  # two keys: two batches
