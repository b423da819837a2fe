"""The raw object format: standard gzip members (written by ISA-L) that every reader of the raw zone opens."""

from __future__ import annotations

import gzip
import io
import json
import zlib
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.json as pj
import pytest

from pipeline.raw import rawfile

LINES = [json.dumps({"event_id": f"e-{index}", "n": index, "text": "é" * (index % 7)}).encode()
         for index in range(500)]
TEXT = b"\n".join(LINES) + b"\n"


def test_an_object_is_gzip_the_standard_library_pyarrow_and_duckdb_read(tmp_path: Path) -> None:
    data = rawfile.encode(LINES)
    assert gzip.decompress(data) == TEXT
    assert zlib.decompress(data, wbits=31) == TEXT
    table = pj.read_json(pa.input_stream(io.BytesIO(data), compression="gzip"))
    assert table.column("n").to_pylist() == list(range(500))
    path = tmp_path / "object.ndjson.gz"
    path.write_bytes(data + rawfile.encode(LINES[:3]))  # two members, as a concatenation makes
    count = duckdb.sql(f"SELECT count(*), sum(n) FROM read_json('{path}')").fetchall()
    assert count == [(503, sum(range(500)) + 3)]
    assert [event["n"] for event in rawfile.decode(path.read_bytes())] == [*range(500), 0, 1, 2]


def test_objects_written_by_zlib_before_still_inflate() -> None:
    older = gzip.compress(TEXT, compresslevel=3, mtime=0)
    assert rawfile.inflate(older) == (TEXT, None)
    assert rawfile.inflate(older + rawfile.encode(LINES)) == (TEXT + TEXT, None)


@pytest.mark.parametrize(("tail", "problem"), [
    (b"", None),
    (b"not gzip at all", "bad_gzip"),
    (b"\x1f\x8bj", "bad_gzip"),  # a wrong method, in a header too short to hold the rest
    (b"x", "bad_gzip"),
    (b"\x1f\x8b", "truncated_gzip"),  # a member that starts and stops
])
def test_what_follows_a_member_is_bad_unless_it_can_start_one(tail: bytes, problem: str | None) -> None:
    assert rawfile.inflate(rawfile.encode(LINES) + tail) == (TEXT, problem)


def test_a_cut_or_corrupted_object_yields_what_it_can_and_says_why() -> None:
    data = rawfile.encode(LINES)
    text, problem = rawfile.inflate(data[:-30])
    assert problem == "truncated_gzip" and TEXT.startswith(text)
    corrupt = data[:40] + bytes([data[40] ^ 0xFF]) + data[41:]
    assert rawfile.inflate(corrupt)[1] == "bad_gzip"
    with pytest.raises(ValueError):
        list(rawfile.decode(data[:-30]))
