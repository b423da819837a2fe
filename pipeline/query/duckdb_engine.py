"""The embedded default's engine: DuckDB over the store's Parquet files.

Per query, each logical table becomes a read of exactly the organization's partition files of the
declared days (found by listing `<zone>/org=<org>/…`), with the partition columns parsed from the
paths and an `org` predicate on top, written into the query's text where it names the table.
Registrations (below) live on a per-query cursor, so concurrent queries (the reports API runs in a
thread pool) never see each other's bindings.
A store without local files (S3) is read object by object into memory, which suits tests and small
data; on AWS the Athena engine is the one configured.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from pipeline import parquet
from pipeline.curated import schema
from pipeline.query.base import QueryError, Row, Source, prepare
from pipeline.query.sql import DUCKDB_MACROS, parse
from pipeline.query.tables import TABLES, Table
from pipeline.store.base import Store

_DUCKDB_TYPES = {pa.string(): "VARCHAR", pa.int32(): "INTEGER"}
_PATHS_KEPT = 1 << 16


class DuckDbEngine:
    billed_by_scan = False  # it materializes CTEs, and a local read costs nothing
    def __init__(self, store: Store) -> None:
        self.store = store
        self._paths: dict[str, Path | None] = {}
        # An unknown table name must fail, never resolve to a Python variable in scope.
        self._con = duckdb.connect(config={"python_enable_replacements": False})
        self._con.execute("SET parquet_metadata_cache = true")  # files are replaced, never edited
        for macro in DUCKDB_MACROS:  # in the database, so every cursor has them
            self._con.execute(macro)

    def close(self) -> None:
        self._con.close()

    def partition_days(self, table: str, org: str) -> list[date]:
        return TABLES[table].days(self.store, org)

    def query(self, text: str, *, org: str, sources: Sequence[Source],
              params: Mapping[str, Any] | None = None) -> list[Row]:
        tree, by_table = prepare(text, org, sources, params)
        cursor = self._con.cursor()
        try:
            cursor.execute("SET TimeZone = 'UTC'")  # dates of timestamps are UTC dates
            files: dict[str, exp.Expr] = {}
            for name, source in by_table.items():
                read = self._bind(cursor, TABLES[name], org, source.days)
                if read is not None:
                    files[name] = read

            def inline(node: exp.Expr) -> exp.Expr:
                if isinstance(node, exp.Table) and node.name in files and not node.args.get("db"):
                    alias = exp.TableAlias(this=exp.to_identifier(node.alias_or_name))
                    return exp.Subquery(this=files[node.name].copy(), alias=alias)
                return node

            # The tree is this query's own (parsed by `prepare`): transformed in place.
            result = cursor.execute(tree.transform(inline, copy=False).sql("duckdb"))
            columns = [column[0] for column in result.description]
            return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
        except duckdb.Error as exc:
            raise QueryError(f"DuckDB query failed: {exc}") from exc
        finally:
            cursor.close()

    def _bind(self, cursor: duckdb.DuckDBPyConnection, table: Table, org: str,
              days: Sequence[date]) -> exp.Expr | None:
        """The read of a table's files to put in the query's text where it names the table (one bind,
        not a view's and then the query's); None when its rows are registered on `cursor` instead."""
        keys = table.keys(self.store, org, days)
        paths = [self._local_path(key) for _, key in keys]
        if keys and all(path is not None for path in paths):
            return exp.replace_placeholders(_read_files(table.name), files=[str(path) for path in paths],
                                            org=org)
        cursor.register(table.name, self._in_memory(table, org, keys))
        return None

    def _local_path(self, key: str) -> Path | None:
        """The store's path of a key, remembered: a key's path never changes, and resolving one is
        syscalls per part of it, for every file of every query."""
        if key not in self._paths:
            if len(self._paths) >= _PATHS_KEPT:
                self._paths.clear()
            self._paths[key] = self.store.local_path(key)
        return self._paths[key]

    def _in_memory(self, table: Table, org: str, keys: list[tuple[date, str]]) -> pa.Table:
        """The partitions' rows read through the store (any store), partition columns appended."""
        parts = [_with_partitions(table, _read(table, self.store.get(key)), org, day) for day, key in keys]
        if not parts:
            return pa.schema([*table.schema, *table.partitions]).empty_table()
        return pa.concat_tables(parts)


@functools.cache
def _read_files(name: str) -> exp.Expr:
    """A table's read of files (`:files`) of an organization (`:org`): parsed once, bound per query
    (parsing the text of every file's path would cost a query more than reading the files)."""
    types = ", ".join(f"'{field.name}': {_DUCKDB_TYPES[field.type]}" for field in TABLES[name].partitions)
    return parse(f"SELECT * FROM read_parquet(:files, hive_partitioning = true, hive_types = {{{types}}}, "
                 "union_by_name = true) WHERE org = :org")


def _read(table: Table, data: bytes) -> pa.Table:
    read = parquet.from_bytes(data)
    if table.curated:
        return schema.conform(read)  # a file of an older schema gains today's columns
    return read.select(table.schema.names).cast(table.schema)


def _with_partitions(table: Table, rows: pa.Table, org: str, day: date) -> pa.Table:
    for field in table.partitions:
        value = table.partition_values(org, day)[field.name]
        rows = rows.append_column(field, pa.array([value] * rows.num_rows, field.type))
    return rows
