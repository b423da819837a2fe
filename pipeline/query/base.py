"""The query-engine protocol both engines implement: DuckDB on local files, Athena on S3.

A query names logical tables (`pipeline/query/tables.py`) and declares, per table, the partition
days it may read. The organization is a required argument: the engine binds every table reference
to that organization's partitions of those days and nothing else, so a query cannot see another
organization's rows whatever its text says. A table the query reads without declaring it is an
error, not a full scan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from sqlglot import exp

from pipeline.query import sql
from pipeline.query.tables import TABLES
from pipeline.store.base import Store
from translator.ids import check_slug

Row = dict[str, Any]


@dataclass(frozen=True)
class Source:
    """The partitions of one logical table a query reads (always of one organization)."""

    table: str  # a name in TABLES: "curated", "rollup_daily", ...
    days: tuple[date, ...]  # curated: days of received_at; rollups: rollup dates


class QueryError(RuntimeError):
    """A query the engine could not run; the message says why."""


class QueryEngine(Protocol):
    store: Store  # where the data lives: partitions are listed and dimension tables read from it
    # Billed per byte scanned without materializing CTEs (Athena): reports render the shapes that read
    # curated once per statement (pipeline/query/single_scan.py).
    billed_by_scan: bool

    def query(self, text: str, *, org: str, sources: Sequence[Source],
              params: Mapping[str, Any] | None = None) -> list[Row]:
        """Rows of a logical query (DuckDB dialect, `:name` placeholders) over `org`'s partitions."""

    def partition_days(self, table: str, org: str) -> list[date]:
        """The days present for one organization in a table, sorted."""


def prepare(text: str, org: str, sources: Sequence[Source], params: Mapping[str, Any] | None
            ) -> tuple[exp.Expr, dict[str, Source]]:
    """Parse, check and bind a logical query; returns it with its sources by table name."""
    check_slug(org, "organization")
    by_table: dict[str, Source] = {}
    for source in sources:
        if source.table not in TABLES:
            raise ValueError(f"unknown table {source.table!r}; tables are {sorted(TABLES)}")
        if source.table in by_table:
            raise ValueError(f"table {source.table!r} declared twice")
        by_table[source.table] = source
    tree = sql.bind(sql.parse(text), params or {})
    undeclared = sql.table_names(tree) - by_table.keys()
    if undeclared:
        raise ValueError(f"query reads {sorted(undeclared)} without declaring them as sources")
    return tree, by_table
