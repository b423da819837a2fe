"""Parquet objects as the store holds them: whole files in memory, snappy-compressed."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq


def to_bytes(table: pa.Table, compression: str = "snappy") -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression=compression)
    return sink.getvalue()


def from_bytes(data: bytes, columns: Sequence[str] | None = None) -> pa.Table:
    return pq.read_table(pa.BufferReader(data), columns=None if columns is None else list(columns))
