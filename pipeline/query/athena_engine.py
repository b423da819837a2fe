"""The AWS engine: the same logical queries, rendered for Athena (Trino) and run through boto3.

Each logical table becomes a subquery over the Glue table (`pipeline/query/glue.py`) restricted to
`org = '<org>'` and the declared partition days, so Athena's partition projection reads only that
organization's prefix (the `org` projection is `injected`: Athena refuses a query without it).
A query is started in the configured workgroup, polled with exponential backoff up to a deadline
(then stopped), and its results are read page by page and typed from Athena's column metadata.
The per-query scan limit is Athena's own workgroup cutoff; before its first query the engine checks
that the workgroup has one no larger than `bytes_scanned_limit`, and refuses to run otherwise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config
from sqlglot import exp

from pipeline.query.base import QueryError, Row, Source, prepare
from pipeline.query.glue import glue_type
from pipeline.query.sql import literal
from pipeline.query.tables import TABLES, Table
from pipeline.store.base import Store

_RUNNING = ("QUEUED", "RUNNING")
_INTEGER = ("tinyint", "smallint", "integer", "int", "bigint")
_FLOAT = ("double", "float", "real")
_TRINO_TYPES = {"string": "VARCHAR", "int": "INTEGER"}  # Glue's names of Trino types that differ


class AthenaQueryError(QueryError):
    """Athena ended a query FAILED or CANCELLED; `reason` is its StateChangeReason."""

    def __init__(self, query_execution_id: str, state: str, reason: str) -> None:
        super().__init__(f"Athena query {query_execution_id} {state}: {reason}")
        self.query_execution_id = query_execution_id
        self.state = state
        self.reason = reason


class ScanLimitExceeded(AthenaQueryError):
    """The workgroup cancelled the query for scanning more than its per-query cutoff."""


class AthenaEngine:
    billed_by_scan = True
    def __init__(self, store: Store, *, client: Any = None, workgroup: str = "primary",
                 output_location: str | None = None, database: str = "percus",
                 bytes_scanned_limit: int | None = None, timeout: float = 300.0,
                 poll_interval: float = 0.2, max_poll_interval: float = 2.0, page_size: int = 1000) -> None:
        self.store = store  # lists partitions (which days are rolled up); Athena reads the data
        self.workgroup = workgroup
        self.output_location = output_location
        self.database = database
        self.bytes_scanned_limit = bytes_scanned_limit
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.page_size = page_size
        self._client = client if client is not None else boto3.client(
            "athena", config=Config(retries={"mode": "standard", "max_attempts": 5}))
        self._checked = threading.Event()

    def partition_days(self, table: str, org: str) -> list[date]:
        return TABLES[table].days(self.store, org)

    def render(self, text: str, *, org: str, sources: Sequence[Source],
               params: Mapping[str, Any] | None = None) -> str:
        """The Athena SQL of a logical query: every table bound to `org`'s partitions."""
        tree, by_table = prepare(text, org, sources, params)

        def bind(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Table) and node.name in by_table and not node.args.get("db"):
                source = by_table[node.name]
                scoped = self._scoped(TABLES[source.table], org, source.days)
                alias = exp.TableAlias(this=exp.to_identifier(node.alias_or_name))
                return exp.Subquery(this=scoped, alias=alias)
            return node

        return tree.transform(bind).sql("trino")

    def _scoped(self, table: Table, org: str, days: Sequence[date]) -> exp.Expr:
        if not days:  # no partition to read: an empty relation of the table's columns, never the table
            types = [(field.name, glue_type(field.type)) for field in [*table.schema, *table.partitions]]
            columns = ", ".join(f'CAST(NULL AS {_TRINO_TYPES.get(kind, kind)}) AS "{name}"'
                                for name, kind in types)
            return exp.maybe_parse(f"SELECT {columns} WHERE FALSE", dialect="trino")
        if table.curated:
            months: dict[tuple[int, int], list[int]] = {}
            for day in sorted(set(days)):
                months.setdefault((day.year, day.month), []).append(day.day)
            days_predicate = "(" + " OR ".join(
                f'("year" = {year} AND "month" = {month} AND "day" IN ({", ".join(map(str, numbers))}))'
                for (year, month), numbers in months.items()) + ")"
        else:
            dates = ", ".join(literal(day.isoformat()) for day in sorted(set(days)))
            days_predicate = f'"date" IN ({dates})'
        return exp.maybe_parse(f'SELECT * FROM "{self.database}"."{table.name}" '
                               f'WHERE "org" = {literal(org)} AND {days_predicate}', dialect="trino")

    def query(self, text: str, *, org: str, sources: Sequence[Source],
              params: Mapping[str, Any] | None = None) -> list[Row]:
        statement = self.render(text, org=org, sources=sources, params=params)
        self._check_workgroup()
        start: dict[str, Any] = {"QueryString": statement, "WorkGroup": self.workgroup,
                                 "QueryExecutionContext": {"Database": self.database}}
        if self.output_location:
            start["ResultConfiguration"] = {"OutputLocation": self.output_location}
        query_id = self._client.start_query_execution(**start)["QueryExecutionId"]
        self._wait(query_id)
        return list(self._results(query_id))

    def _check_workgroup(self) -> None:
        if self.bytes_scanned_limit is None or self._checked.is_set():
            return
        config = self._client.get_work_group(WorkGroup=self.workgroup)["WorkGroup"].get("Configuration", {})
        cutoff = config.get("BytesScannedCutoffPerQuery")
        if cutoff is None or cutoff > self.bytes_scanned_limit:
            raise QueryError(
                f"Athena workgroup {self.workgroup!r} must cap each query at {self.bytes_scanned_limit} "
                f"bytes scanned or less (BytesScannedCutoffPerQuery is {cutoff}); refusing to query")
        self._checked.set()

    def _wait(self, query_id: str) -> None:
        deadline = time.monotonic() + self.timeout
        delay = self.poll_interval
        while True:
            execution = self._client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            status = execution["Status"]
            state = status["State"]
            if state == "SUCCEEDED":
                return
            if state not in _RUNNING:
                reason = status.get("StateChangeReason") or status.get("AthenaError", {}).get(
                    "ErrorMessage") or "no reason given"
                error = ScanLimitExceeded if "bytes scanned limit" in reason.lower() else AthenaQueryError
                raise error(query_id, state, reason)
            if time.monotonic() + delay > deadline:
                self._client.stop_query_execution(QueryExecutionId=query_id)
                raise AthenaQueryError(query_id, "CANCELLED",
                                       f"still {state} after {self.timeout:g} s; stopped")
            time.sleep(delay)
            delay = min(delay * 2, self.max_poll_interval)

    def _results(self, query_id: str) -> Iterator[Row]:
        pages = self._client.get_paginator("get_query_results").paginate(
            QueryExecutionId=query_id, PaginationConfig={"PageSize": self.page_size})
        columns: list[tuple[str, str]] | None = None
        for page in pages:
            rows = page["ResultSet"]["Rows"]
            if columns is None:
                info = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
                columns = [(column["Name"], column["Type"].lower()) for column in info]
                # A SELECT's first row repeats the column labels.
                if rows and [cell.get("VarCharValue") for cell in rows[0]["Data"]] == [c[0] for c in columns]:
                    rows = rows[1:]
            for row in rows:
                yield {name: _typed(kind, cell.get("VarCharValue"))
                       for (name, kind), cell in zip(columns, row["Data"], strict=True)}


def _typed(kind: str, text: str | None) -> Any:
    """A value of Athena's text results as the Python type DuckDB would return."""
    if text is None:
        return None
    base = kind.split("(")[0].strip()
    if base in _INTEGER:
        return int(text)
    if base in _FLOAT:
        return float(text)
    if base == "decimal":
        return Decimal(text)
    if base == "boolean":
        return text == "true"
    if base == "date":
        return date.fromisoformat(text)
    if base.startswith("timestamp"):
        return datetime.fromisoformat(text.removesuffix(" UTC")).replace(tzinfo=UTC)
    return text
