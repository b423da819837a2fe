"""Glue table definitions for Athena: curated, every rollup table, outcomes, audiences and the
dimension tables of the platform's entities, with partition projection, so partitions are computed
from the query's predicates and no crawler or MSCK REPAIR ever runs.

`org` is projected as `injected`: its values come only from the query, which must name one
organization (Athena rejects a query without it); days are projected as ranges. The deployment
template creates these tables from `table_inputs`.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from pipeline import layout
from pipeline.platform.dims import HISTORY, HISTORY_TABLES, latest_schema
from pipeline.platform.dims import TABLES as DIMENSIONS
from pipeline.query.tables import TABLES, Table

_PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}
FIRST_YEAR = 2020


def glue_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_string(arrow_type):
        return "string"
    if pa.types.is_int64(arrow_type):
        return "bigint"
    if pa.types.is_int32(arrow_type):
        return "int"
    if pa.types.is_floating(arrow_type):
        return "double"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    raise TypeError(f"no Glue type for {arrow_type}")


def _projection(table: Table, location: str) -> dict[str, str]:
    params = {"projection.enabled": "true", "projection.org.type": "injected"}
    if table.zone is None:
        params |= {
            "projection.year.type": "integer", "projection.year.range": f"{FIRST_YEAR},2100",
            "projection.month.type": "integer", "projection.month.range": "1,12",
            "projection.month.digits": "2",
            "projection.day.type": "integer", "projection.day.range": "1,31", "projection.day.digits": "2",
            "storage.location.template": f"{location}/{layout.CURATED.prefix}org=${{org}}/year=${{year}}/"
                                         "month=${month}/day=${day}/",
        }
    else:
        params |= {
            "projection.date.type": "date", "projection.date.format": "yyyy-MM-dd",
            "projection.date.range": f"{FIRST_YEAR}-01-01,NOW", "projection.date.interval": "1",
            "projection.date.interval.unit": "DAYS",
            "storage.location.template": f"{location}/{table.zone}org=${{org}}/"
                                         "date=${date}/",
        }
    return params


def table_input(table: Table, location: str) -> dict[str, Any]:
    """Glue's TableInput for one table; `location` is `s3://bucket[/prefix]` of the store."""
    location = location.rstrip("/")
    zone = layout.CURATED.prefix if table.zone is None else table.zone
    return {
        "Name": table.name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE", **_projection(table, location)},
        "PartitionKeys": [{"Name": field.name, "Type": glue_type(field.type)} for field in table.partitions],
        "StorageDescriptor": {
            "Columns": [{"Name": field.name, "Type": glue_type(field.type)} for field in table.schema],
            "Location": f"{location}/{zone}",
            **_PARQUET,
        },
    }


def dimension_input(name: str, columns: pa.Schema, location: str) -> dict[str, Any]:
    """A dimension table (pipeline/platform/dims.py): one object per organization, `org` injected."""
    prefix = f"{location.rstrip('/')}/{layout.dimension_prefix(name)}"
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE", "projection.enabled": "true",
                       "projection.org.type": "injected",
                       "storage.location.template": prefix + "org=${org}/"},
        "PartitionKeys": [{"Name": "org", "Type": "string"}],
        "StorageDescriptor": {
            "Columns": [{"Name": field.name, "Type": glue_type(field.type)} for field in columns],
            "Location": prefix,
            **_PARQUET,
        },
    }


def table_inputs(location: str) -> list[dict[str, Any]]:
    return [*(table_input(table, location) for table in TABLES.values()),
            *(dimension_input(layout.dimension_table(name, "latest"), latest_schema(name), location)
              for name in DIMENSIONS),
            *(dimension_input(layout.dimension_table(name, "history"), HISTORY, location)
              for name in HISTORY_TABLES)]
