"""Every CSV export kind is written alike (RFC 4180): each text cell quoted, numbers and booleans
bare, a null an empty bare cell, CRLF line ends. Checked on the bytes, for every kind of
exports.KINDS, by one rule: a new kind is checked without a line here."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pyarrow as pa
import pytest

from pipeline.curated import schema
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.reporting import exports
from pipeline.reporting.selection import Selection
from pipeline.store.local import LocalStore
from tests.pipeline._outcomes import D1, D2, TODAY, known_outcomes

NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
BARE = re.compile(r'[^,\r\n"]*')
# Text columns that may hold digits only (the events' schema_version "1", a project named 2026…);
# the other kinds' text columns (dates, ids, names, currencies) never look like numbers.
TEXT = {field.name for field in schema.SCHEMA if pa.types.is_string(field.type)}


def cells(raw: str) -> list[list[tuple[str, bool]]]:
    """The records of a CSV as written: each cell as (its text, whether it was quoted)."""
    records: list[list[tuple[str, bool]]] = []
    record: list[tuple[str, bool]] = []
    at = 0
    while at < len(raw):
        if raw[at] == '"':
            end = at + 1
            while (end := raw.index('"', end)) + 1 < len(raw) and raw[end + 1] == '"':
                end += 2
            record.append((raw[at + 1:end].replace('""', '"'), True))
            at = end + 1
        else:
            bare = BARE.match(raw, at)
            assert bare is not None
            record.append((bare.group(), False))
            at = bare.end()
        if raw.startswith(",", at):
            at += 1
            continue
        assert raw.startswith("\r\n", at), f"a record ends in CRLF: {raw[at:at + 20]!r}"
        records.append(record)
        record = []
        at += 2
    return records


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    made = LocalStore(tmp_path_factory.mktemp("quoting"))
    known_outcomes(made)  # sessions (with CTAs, errors, bots) and outcomes with and without a value
    return made


@pytest.mark.parametrize("kind", exports.KINDS)
def test_every_kind_quotes_alike(store: LocalStore, kind: str) -> None:
    out = io.BytesIO()
    # Days without views too: their rates are null.
    selection = Selection(date_from=D1.date() - timedelta(days=1), date_to=D2.date() + timedelta(days=40))
    rows = exports.write_csv(store, DuckDbEngine(store), "acme", selection, out, kind=kind, today=TODAY)
    header, *records = cells(out.getvalue().decode())
    assert rows == len(records) > 0
    assert all(quoted for _, quoted in header), header
    names = [name for name, _ in header]
    seen = {"number": 0, "null": 0, "text": 0}
    for record in records:
        assert len(record) == len(names)
        for name, (text, quoted) in zip(names, record, strict=True):
            if quoted:
                assert name in TEXT or not NUMBER.fullmatch(text), f"{kind}: a number quoted: {name}={text!r}"
                seen["text"] += 1
            elif text == "":
                seen["null"] += 1
            else:
                assert NUMBER.fullmatch(text) or text in ("true", "false"), f"{kind}: bare {name}={text!r}"
                seen["number"] += 1
    # Each column holds one type: text quoted in every row, or numbers bare in every row.
    for index, name in enumerate(names):
        kinds = {quoted for record in records for text, quoted in [record[index]] if quoted or text}
        assert len(kinds) <= 1, f"{kind}: column {name} mixes quoted and bare cells"
    assert seen["number"] and seen["null"], (kind, seen)
    if kind != "engagement":  # the curve is numbers only
        assert seen["text"], (kind, seen)
