"""The Athena engine's request flow against moto server, and the Glue tables it reads.

Athena on moto runs no SQL: a query succeeds with the results injected through moto's
`/moto-api/static/athena/query-results`. The injected rows are what DuckDB returns for the same
logical query over the same data, so a report through Athena must equal the report through DuckDB.
Moto never fails a query nor pages results; those two paths use botocore's Stubber (marked below).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import boto3
import httpx
import pytest
import sqlglot
from botocore.stub import Stubber

from pipeline.curated import schema
from pipeline.query import QueryError, Source
from pipeline.query.athena_engine import AthenaEngine, AthenaQueryError, ScanLimitExceeded
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.query.glue import table_inputs
from pipeline.query.tables import TABLES
from pipeline.reporting import reports
from pipeline.reporting.rollups import build_rollups
from pipeline.reporting.selection import Selection
from pipeline.store.s3 import S3Store
from tests.pipeline._platform import describe
from tests.pipeline._sessions import ingest, known_sessions

pytestmark = pytest.mark.aws
D1, D2 = date(2026, 11, 24), date(2026, 11, 25)
WORKGROUP = "percus"
LIMIT = 10 * 1024**3


@pytest.fixture
def athena(aws: str) -> Iterator[Any]:
    boto3.client("s3").create_bucket(Bucket="athena-results")
    client = boto3.client("athena")
    client.create_work_group(Name=WORKGROUP, Configuration={
        "ResultConfiguration": {"OutputLocation": "s3://athena-results/percus/"},
        "EnforceWorkGroupConfiguration": True, "BytesScannedCutoffPerQuery": 1024**3})
    yield client
    httpx.post(f"{aws}/moto-api/state-manager/unset-transition", json={"model_name": "athena::execution"})


def engine(store: Any, client: Any, **options: Any) -> AthenaEngine:
    defaults = {"workgroup": WORKGROUP, "output_location": "s3://athena-results/percus/",
                "database": "percus",
                "bytes_scanned_limit": LIMIT, "poll_interval": 0.01, "max_poll_interval": 0.04}
    return AthenaEngine(store, client=client, **{**defaults, **options})


def _athena_text(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"VarCharValue": "true" if value else "false"}
    if isinstance(value, datetime):
        return {"VarCharValue": value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]}
    return {"VarCharValue": str(value)}


_TYPES = {bool: "boolean", int: "bigint", float: "double", str: "varchar", date: "date",
          datetime: "timestamp"}


def inject(moto: str, rows: list[dict[str, Any]], types: dict[str, str] | None = None) -> None:
    """Queue one query's results in moto, as Athena returns them (a header row, then text values)."""
    names = list(types or rows[0])
    # Each column typed by its first non-null value: row order is the engine's, and any row may hold a null.
    types = types or {name: _TYPES[type(next(row[name] for row in rows if row[name] is not None))]
                      for name in names}
    body = {"results": [{
        "rows": [{"Data": [{"VarCharValue": name} for name in names]}]
        + [{"Data": [_athena_text(row[name]) for name in names]} for row in rows],
        "column_info": [{"Name": name, "Label": name, "Type": types[name], "Nullable": "UNKNOWN"}
                        for name in names],
    }]}
    assert httpx.post(f"{moto}/moto-api/static/athena/query-results", json=body).status_code == 201


class Recording(DuckDbEngine):
    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self.results: list[list[dict[str, Any]]] = []

    def query(self, text: str, **kwargs: Any) -> list[dict[str, Any]]:
        rows = super().query(text, **kwargs)
        self.results.append(rows)
        return rows


@pytest.mark.parametrize("report", [reports.summary, reports.daily_summaries, reports.engagement,
                                    reports.projects])
def test_a_report_through_athena_equals_the_report_through_duckdb(aws: str, athena: Any,
                                                                   report: Callable[..., Any]) -> None:
    boto3.client("s3").create_bucket(Bucket="percus-analytics")
    store = S3Store("percus-analytics", "prod")
    sessions, duplicates = known_sessions()
    ingest(store, sessions, duplicates)
    describe(store, "acme", projects={"p1": "Renewals", "p2": "Pensions"}, archived=["p2"])  # names from S3
    build_rollups(store, day=D1)  # day 1 from rollups, day 2 from curated
    window, today = Selection(date_from=D1, date_to=D2), date(2026, 11, 30)
    duck = Recording(store)
    expected = report(duck, "acme", window, today=today)
    inject(aws, duck.results[0])

    assert report(engine(store, athena), "acme", window, today=today) == expected

    (query_id,) = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    assert execution["QueryExecutionContext"]["Database"] == "percus"
    assert execution["ResultConfiguration"]["OutputLocation"].startswith("s3://athena-results/percus/")
    statement = execution["Query"]
    assert sqlglot.parse_one(statement, read="trino")
    assert "\"percus\".\"rollup_daily\" WHERE \"org\" = 'acme' AND \"date\" IN ('2026-11-24')" in statement
    assert "\"percus\".\"curated\" WHERE \"org\" = 'acme'" in statement
    assert "globex" not in statement


def test_results_are_typed_from_athena_column_metadata(aws: str, athena: Any) -> None:
    types = {"s": "varchar", "n": "bigint", "i": "integer", "x": "double", "b": "boolean", "d": "date",
             "t": "timestamp", "m": "decimal(10,2)", "z": "varchar"}
    moment = datetime(2026, 11, 24, 23, 59, 30, 125000, tzinfo=UTC)
    row = {"s": "es-CL", "n": 12345678901, "i": 7, "x": 62.857143, "b": True, "d": date(2026, 11, 24),
           "t": moment, "m": "3.14", "z": None}
    inject(aws, [row], types)
    rows = engine(None, athena).query("SELECT 1 AS x", org="acme", sources=[])
    assert rows == [{**row, "m": Decimal("3.14")}]


def test_polling_backs_off_until_the_query_succeeds(aws: str, athena: Any) -> None:
    httpx.post(f"{aws}/moto-api/state-manager/set-transition",
               json={"model_name": "athena::execution", "transition": {"progression": "manual", "times": 3}})
    polls: list[float] = []
    athena.meta.events.register("before-call.athena.GetQueryExecution",
                                lambda **_: polls.append(time.monotonic()))
    inject(aws, [{"n": 1}])
    assert engine(None, athena).query("SELECT 1 AS n", org="acme", sources=[]) == [{"n": 1}]
    # QUEUED for 3 polls, RUNNING for 3, then SUCCEEDED; waits of 0.01, 0.02, then 0.04 s.
    assert len(polls) >= 6
    assert polls[-1] - polls[0] >= 0.01 + 0.02 + 0.04 * (len(polls) - 3)


def test_a_query_past_its_deadline_is_stopped(aws: str, athena: Any) -> None:
    httpx.post(f"{aws}/moto-api/state-manager/set-transition",
               json={"model_name": "athena::execution",
                     "transition": {"progression": "manual", "times": 10**6}})
    with pytest.raises(AthenaQueryError, match="stopped") as caught:
        engine(None, athena, timeout=0.2).query("SELECT 1 AS n", org="acme", sources=[])
    execution = athena.get_query_execution(QueryExecutionId=caught.value.query_execution_id)
    assert execution["QueryExecution"]["Status"]["State"] == "CANCELLED"


@pytest.mark.parametrize("cutoff", [None, LIMIT + 1])
def test_a_workgroup_without_a_tight_enough_scan_cutoff_is_refused(aws: str, athena: Any,
                                                                   cutoff: int | None) -> None:
    configuration: dict[str, Any] = {"EnforceWorkGroupConfiguration": True}
    if cutoff is not None:
        configuration["BytesScannedCutoffPerQuery"] = cutoff
    athena.create_work_group(Name="loose", Configuration=configuration)
    with pytest.raises(QueryError, match="BytesScannedCutoffPerQuery"):
        engine(None, athena, workgroup="loose").query("SELECT 1 AS n", org="acme", sources=[])
    assert athena.list_query_executions(WorkGroup="loose")["QueryExecutionIds"] == []


def test_glue_tables_use_partition_projection(aws: str) -> None:
    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": "percus"})
    for table in table_inputs("s3://percus-analytics/prod/"):  # as the deployment template creates them
        glue.create_table(DatabaseName="percus", TableInput=table)
    tables = {table["Name"]: table for table in glue.get_tables(DatabaseName="percus")["TableList"]}
    assert set(TABLES) <= set(tables) and all(
        name.startswith("dim_") for name in set(tables) - set(TABLES))  # the platform's dimensions
    cur = tables["curated"]
    assert [column["Name"] for column in cur["StorageDescriptor"]["Columns"]] == schema.SCHEMA.names
    assert [(key["Name"], key["Type"]) for key in cur["PartitionKeys"]] == [
        ("org", "string"), ("year", "int"), ("month", "int"), ("day", "int")]
    assert cur["Parameters"]["projection.org.type"] == "injected"
    assert cur["Parameters"]["storage.location.template"] == (
        "s3://percus-analytics/prod/curated/org=${org}/year=${year}/month=${month}/day=${day}/")
    daily = tables["rollup_daily"]
    assert daily["Parameters"]["projection.date.format"] == "yyyy-MM-dd"
    assert daily["StorageDescriptor"]["Location"] == "s3://percus-analytics/prod/rollups/daily/"


# Moto cannot fail a query or page results: these use botocore's Stubber on a real client.

def _stubbed(states: list[dict[str, Any]], pages: list[dict[str, Any]]) -> tuple[Any, Stubber]:
    client = boto3.client("athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
    for status in states:
        execution = {"QueryExecution": {"QueryExecutionId": "q-1", "Status": status}}
        stub.add_response("get_query_execution", execution, {"QueryExecutionId": "q-1"})
    for page in pages:
        stub.add_response("get_query_results", page)
    stub.activate()
    return client, stub


def _page(rows: list[list[str | None]], token: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {"ResultSet": {
        "Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows],
        "ResultSetMetadata": {"ColumnInfo": [{"Name": "code", "Type": "varchar"},
                                             {"Name": "n", "Type": "bigint"}]}}}
    if token:
        page["NextToken"] = token
    return page


def test_results_are_read_page_by_page() -> None:
    client, stub = _stubbed([{"State": "RUNNING"}, {"State": "SUCCEEDED"}],
                            [_page([["code", "n"], ["A", "2"]], token="t1"),
                             _page([["B", "1"], [None, "0"]])])
    rows = engine(None, client, bytes_scanned_limit=None).query("SELECT 1", org="acme", sources=[])
    assert rows == [{"code": "A", "n": 2}, {"code": "B", "n": 1}, {"code": None, "n": 0}]
    stub.assert_no_pending_responses()


def test_failed_and_cancelled_queries_say_why() -> None:
    failure = "COLUMN_NOT_FOUND: line 1:8: Column 'x' cannot be resolved"
    client, _ = _stubbed([{"State": "FAILED", "StateChangeReason": failure}], [])
    with pytest.raises(AthenaQueryError, match="q-1 FAILED: COLUMN_NOT_FOUND") as failed:
        engine(None, client, bytes_scanned_limit=None).query("SELECT 1", org="acme", sources=[])
    assert failed.value.state == "FAILED"
    cancelled = "Query cancelled! : Bytes scanned limit was exceeded"
    client, _ = _stubbed([{"State": "CANCELLED", "StateChangeReason": cancelled}], [])
    with pytest.raises(ScanLimitExceeded, match="Bytes scanned limit"):
        engine(None, client, bytes_scanned_limit=None).query(
            "SELECT COUNT(*) FROM curated", org="acme", sources=[Source("curated", (D1,))])
