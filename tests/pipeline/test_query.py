"""The query layer: organization scoping, declared sources, parameters, both engines' SQL, selection."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlglot
from sqlglot import exp

from pipeline.config import load_settings
from pipeline.query import QueryError, Source, open_engine
from pipeline.query.athena_engine import AthenaEngine
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.query.single_scan import engagement_build, item_build, summary_build
from pipeline.query.sql import ITEMS, ROLLUP_BUILDS, SESSIONS, parse
from pipeline.query.tables import ROLLUPS
from pipeline.reporting import reports
from pipeline.reporting.rollups import build_rollups
from pipeline.reporting.selection import Selection
from pipeline.store.local import LocalStore
from pipeline.store.s3 import S3Store
from tests.pipeline._sessions import ingest, known_sessions

D1, D2 = date(2026, 11, 24), date(2026, 11, 25)
CURATED_D1 = [Source("curated", (date(2026, 11, 23), D1, D2))]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    store = LocalStore(tmp_path_factory.mktemp("query"))
    sessions, duplicates = known_sessions()
    ingest(store, sessions, duplicates)
    build_rollups(store, day=D1)
    return store


def test_a_query_sees_only_the_organization_it_names(store: LocalStore) -> None:
    engine = DuckDbEngine(store)
    everything = "SELECT DISTINCT organization_id, org FROM curated"
    assert engine.query(everything, org="acme", sources=CURATED_D1) == [
        {"organization_id": "acme", "org": "acme"}]
    assert engine.query(everything, org="globex", sources=CURATED_D1) == [
        {"organization_id": "globex", "org": "globex"}]
    assert engine.query("SELECT COUNT(*) AS n FROM rollup_viewers", org="globex",
                        sources=[Source("rollup_viewers", (D1,))]) == [{"n": 2}]


def test_reading_an_undeclared_table_is_an_error_not_a_scan(store: LocalStore) -> None:
    engine = DuckDbEngine(store)
    with pytest.raises(ValueError, match="without declaring"):
        engine.query("SELECT COUNT(*) FROM curated", org="acme", sources=[])
    with pytest.raises(ValueError, match="without declaring"):
        engine.query("SELECT * FROM rollup_daily JOIN curated ON TRUE", org="acme",
                     sources=[Source("rollup_daily", (D1,))])
    with pytest.raises(ValueError, match="unknown table"):
        engine.query("SELECT 1", org="acme", sources=[Source("raw", (D1,))])
    with pytest.raises(ValueError, match="organization"):
        engine.query("SELECT COUNT(*) FROM curated", org="acme/../globex", sources=CURATED_D1)


def test_parameters_are_quoted_never_spliced(store: LocalStore) -> None:
    engine = DuckDbEngine(store)
    text = "SELECT COUNT(*) AS n FROM curated WHERE project_id = :project"
    assert engine.query(text, org="acme", sources=CURATED_D1, params={"project": "p2"}) == [{"n": 6}]
    injection = {"project": "x' OR '1'='1"}
    assert engine.query(text, org="acme", sources=CURATED_D1, params=injection) == [{"n": 0}]
    with pytest.raises(ValueError, match="without a value"):
        engine.query(text, org="acme", sources=CURATED_D1)


def test_missing_partitions_read_as_no_rows(store: LocalStore) -> None:
    engine = DuckDbEngine(store)
    assert engine.query("SELECT COUNT(*) AS n, MAX(event_type) AS t FROM curated", org="nobody",
                        sources=CURATED_D1) == [{"n": 0, "t": None}]
    assert engine.query("SELECT COUNT(*) AS n FROM rollup_daily", org="acme",
                        sources=[Source("rollup_daily", (date(2020, 1, 1),))]) == [{"n": 0}]
    assert engine.partition_days("rollup_daily", "acme") == [D1]
    assert engine.partition_days("rollup_daily", "nobody") == []


def test_sql_errors_are_query_errors(store: LocalStore) -> None:
    with pytest.raises(QueryError, match="DuckDB query failed"):
        DuckDbEngine(store).query("SELECT no_such_column FROM curated", org="acme", sources=CURATED_D1)


@pytest.mark.aws
def test_duckdb_over_an_s3_store_gives_the_same_reports(aws: str, store: LocalStore) -> None:
    boto3.client("s3").create_bucket(Bucket="percus-analytics")
    s3 = S3Store("percus-analytics")
    for key in store.list(""):
        s3.put(key, store.get(key))
    local, remote = DuckDbEngine(store), DuckDbEngine(s3)
    for report in (reports.summary, reports.dropoff, reports.ctas, reports.errors):
        window = Selection(date_from=D1, date_to=D2)
        assert report(remote, "acme", window) == report(local, "acme", window)


class RenderOnly(AthenaEngine):
    """Renders what the Athena engine would send; tests/pipeline/test_query_athena.py runs it on moto."""

    def __init__(self, store: LocalStore) -> None:
        super().__init__(store, client=object(), database="percus")
        self.sent: list[str] = []

    def query(self, text: str, *, org: str, sources: Any, params: Any = None) -> list[dict[str, Any]]:
        self.sent.append(self.render(text, org=org, sources=sources, params=params))
        return DuckDbEngine(self.store).query(text, org=org, sources=sources, params=params)


def test_every_report_renders_to_valid_trino_bound_to_one_organization(store: LocalStore) -> None:
    engine = RenderOnly(store)
    window, today = Selection(date_from=D1, date_to=D2, project_id="p1"), date(2026, 11, 30)
    for report in (reports.summary, reports.dropoff, reports.ctas, reports.chapters, reports.errors):
        report(engine, "acme", window, today=today)  # day 1 from rollups, day 2 from curated
    reports.breakdown(engine, "acme", "os", window, today=today)
    reports.live(engine, "acme")
    assert len(engine.sent) == 10
    for statement in engine.sent:
        tree = sqlglot.parse_one(statement, read="trino")
        tables = [table for table in tree.find_all(exp.Table) if table.db]
        assert tables and all(table.db == "percus" for table in tables)
        for table in tables:  # each read sits in a subquery filtered to acme's partitions
            where = table.find_ancestor(exp.Select).args["where"].sql("trino")
            assert "\"org\" = 'acme'" in where
        assert "globex" not in statement
    summary = engine.sent[0]
    assert re.search(r'"percus"\."rollup_daily" WHERE "org" = \'acme\' AND "date" IN \(\'2026-11-24\'\)',
                     summary)
    assert re.search(r'"percus"\."curated" WHERE "org" = \'acme\' AND \(\("year" = 2026 AND "month" = 11 '
                     r'AND "day" IN \(24, 25, 26\)\)\)', summary)
    assert "project_id = 'p1'" in summary


def test_the_logical_queries_are_valid_in_both_dialects() -> None:
    single_scan = [summary_build("TRUE"), engagement_build("TRUE"),
                   *(item_build(name)("TRUE") for name in ITEMS)]
    for text in [SESSIONS, *ROLLUP_BUILDS.values(), *single_scan]:
        for dialect in ("duckdb", "trino"):
            assert sqlglot.parse_one(parse(text).sql(dialect), read=dialect)
    assert set(ROLLUP_BUILDS) == set(ROLLUPS)


def test_the_engine_is_chosen_from_configuration(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(data_dir / "bucket")
    assert isinstance(open_engine(load_settings(), store), DuckDbEngine)
    monkeypatch.setenv("PERCUS_QUERY_ENGINE", "athena")
    monkeypatch.setenv("PERCUS_ATHENA_WORKGROUP", "percus")
    monkeypatch.setenv("PERCUS_ATHENA_OUTPUT", "s3://results/athena/")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    athena = open_engine(load_settings(), store)
    assert isinstance(athena, AthenaEngine)
    assert (athena.workgroup, athena.output_location, athena.database) == (
        "percus", "s3://results/athena/", "percus")
    monkeypatch.setenv("PERCUS_QUERY_ENGINE", "presto")
    with pytest.raises(ValueError, match="PERCUS_QUERY_ENGINE"):
        open_engine(load_settings(), store)


def test_concurrent_queries_on_one_engine_keep_their_own_bindings(store: LocalStore) -> None:
    engine = DuckDbEngine(store)
    days = Selection(date_from=D1, date_to=D2)
    expected = {org: reports.summary(engine, org, days) for org in ("acme", "globex")}
    with ThreadPoolExecutor(max_workers=4) as pool:
        jobs = [(org, pool.submit(reports.summary, engine, org, days))
                for org in ("acme", "globex") * 6]
        assert all(job.result() == expected[org] for org, job in jobs)
