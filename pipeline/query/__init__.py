"""Query engines behind one protocol (`base.QueryEngine`), chosen from configuration here only."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.query.base import QueryEngine, QueryError, Row, Source
from pipeline.store.base import Store

__all__ = ["QueryEngine", "QueryError", "Row", "Source", "open_engine"]

# Athena's Glue database (pipeline/query/glue.py) and the scan budget each query must stay under:
# the workgroup's per-query cutoff must be at most this (checked before the first query).
ATHENA_DATABASE = "percus"
ATHENA_SCAN_LIMIT = 10 * 1024**3


def open_engine(settings: Settings, store: Store) -> QueryEngine:
    """PERCUS_QUERY_ENGINE: `duckdb` (local files of `store`) or `athena` (the same tables on S3)."""
    if settings.query_engine == "duckdb":
        from pipeline.query.duckdb_engine import DuckDbEngine

        return DuckDbEngine(store)
    if settings.query_engine == "athena":
        from pipeline.query.athena_engine import AthenaEngine

        return AthenaEngine(store, workgroup=settings.athena_workgroup or "primary",
                            output_location=settings.athena_output, database=ATHENA_DATABASE,
                            bytes_scanned_limit=ATHENA_SCAN_LIMIT)
    raise ValueError(f"PERCUS_QUERY_ENGINE must be 'duckdb' or 'athena', got {settings.query_engine!r}")
