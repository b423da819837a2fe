"""`percus outcomes import`: a CRM's CSV of outcomes or of an audience, keyed as the gateway keys
them; a bad row is reported by its line number and skipped; progress on stderr; re-imports are
duplicates; the client-side hash reaches no stored byte."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from percus.cli import progress
from pipeline.governance import audit
from pipeline.governance.viewer_keys import load_viewer_keys
from pipeline.outcomes import csv_import
from pipeline.query.base import Source
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.store.local import LocalStore
from tests.percus._cli import run

HEADER = "Outcome_ID,viewer_hash,name,occurred_at,value,currency,crm_note\n"


def client_hash(code: str) -> str:
    return hashlib.sha256(f"acme:{code}:salt".encode()).hexdigest()


def row(code: str, *, days_ago: int = 1, value: str = "", currency: str = "") -> str:
    occurred = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    return f"{uuid.uuid4()},{client_hash(code)},policy_renewed,{occurred},{value},{currency},x\n"


@pytest.fixture
def acme(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert run(capsys, "org", "create", "acme")[0] == 0
    return data_dir


def stored(data_dir: Path, table: str) -> list[dict[str, object]]:
    engine = DuckDbEngine(LocalStore(data_dir / "bucket"))
    try:
        days = tuple(engine.partition_days(table, "acme"))
        return engine.query(f"SELECT * FROM {table}", org="acme", sources=[Source(table, days)])
    finally:
        engine.close()


def test_good_rows_are_stored_keyed_and_bad_ones_named_by_line(acme: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    crm = tmp_path / "crm.csv"
    bad_hash = row("R-4").replace(client_hash("R-4"), "12345")
    crm.write_text(HEADER + row("R-1", value="120.50", currency="EUR") + row("R-2") + "\n" + bad_hash
                   + row("R-3", days_ago=-3) + '"a,b",' + row("R-5").split(",", 1)[1] + row("R-6"),
                   encoding="utf-8")
    code, out, _ = run(capsys, "outcomes", "import", "--org", "acme", str(crm))
    assert code == 0
    lines = out.splitlines()[-4:]
    assert lines[:2] == [
        "line 5: viewer_hash: a viewer hash is 64 hexadecimal characters (the SDK's SHA-256)",
        "line 6: occurred_at: must lie between 2000-01-01 and now"]
    assert lines[2].startswith("line 7: outcome_id: Input should be a valid UUID")  # a quoted "a,b"
    assert lines[3] == "done: outcomes: 6 rows read, 3 stored, 0 duplicates, 3 rejected"
    keys = load_viewer_keys(data_dir=acme)
    rows = stored(acme, "outcomes")
    assert sorted(str(r["viewer_hash"]) for r in rows) == sorted(
        keys.keyed(client_hash(code_)) for code_ in ("R-1", "R-2", "R-6"))
    everything = b"".join(path.read_bytes() for path in acme.rglob("*") if path.is_file())
    for code_ in ("R-1", "R-2", "R-6"):
        assert client_hash(code_).encode() not in everything
    (record,) = audit.list_records(LocalStore(acme / "bucket"), action="outcomes")
    assert record["details"] == {"accepted": 3, "duplicates": 0, "rejected": 3, "source": "csv"}

    code, out, _ = run(capsys, "outcomes", "import", "--org", "acme", str(crm))
    assert out.splitlines()[-1] == "done: outcomes: 6 rows read, 0 stored, 3 duplicates, 3 rejected"


def test_a_large_file_reports_progress_per_chunk(acme: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_import, "CHUNK", 1_000)  # 50,000 rows a chunk otherwise
    crm = tmp_path / "big.csv"
    lines = "".join(row(f"R-{n}", days_ago=1 + n % 3) for n in range(2_500))
    crm.write_text(HEADER + lines, encoding="utf-8")
    monkeypatch.setattr(progress, "PLAIN_SECONDS", 0.0)  # a line per chunk, however fast
    code, out, err = run(capsys, "outcomes", "import", "--org", "acme", str(crm))
    assert code == 0
    assert out.splitlines() == ["done: outcomes: 2500 rows read, 2500 stored, 0 duplicates, 0 rejected"]
    assert err.splitlines() == [
        "import outcomes: 1,000 rows read; 1,000 stored, 0 duplicates, 0 rejected",
        "import outcomes: 2,000 rows read; 2,000 stored, 0 duplicates, 0 rejected",
        "import outcomes: 2,500 rows read; 2,500 stored, 0 duplicates, 0 rejected"]
    assert len(stored(acme, "outcomes")) == 2_500
    # Each chunk writes one object per day it covers: 3 chunks over 3 days.
    assert len(list(LocalStore(acme / "bucket").list("outcomes/"))) == 9


def test_an_audience_list_is_imported_by_its_viewer_hash_column(acme: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    crm = tmp_path / "sent.csv"
    lines = [f"{client_hash(f'R-{n}').upper()},Someone {n}\n" for n in range(3)]
    crm.write_bytes(("\ufeffViewer_Hash,full_name\n" + "".join(lines) + "nope,x\n" + lines[0]).encode())
    code, out, _ = run(capsys, "outcomes", "import", "--org", "acme", "--audience", "letters", str(crm))
    assert code == 0
    assert out.splitlines()[-2:] == [
        "line 5: viewer_hash: a viewer hash is 64 hexadecimal characters (the SDK's SHA-256)",
        "done: audience letters: 5 rows read, 3 stored, 1 duplicates, 1 rejected"]
    keys = load_viewer_keys(data_dir=acme)
    assert sorted(str(r["viewer_hash"]) for r in stored(acme, "audiences")) == sorted(
        keys.keyed(client_hash(f"R-{n}")) for n in range(3))


@pytest.mark.parametrize(("content", "args", "message"), [
    ("viewer_hash,name\n", [], "the header row lacks the column(s) outcome_id, occurred_at"),
    ("", [], "the file is empty"),
    ("name\n", ["--audience", "letters"], "lacks the column(s) viewer_hash"),
    (HEADER, ["--audience", "bad name"], "--audience 'bad name' must be 1-64 characters"),
])
def test_a_file_it_cannot_use_is_a_usage_error(acme: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              content: str, args: list[str], message: str) -> None:
    crm = tmp_path / "crm.csv"
    crm.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "outcomes", "import", "--org", "acme", *args, str(crm))
    assert (code, out) == (2, "") and message in err and "Traceback" not in err


def test_an_unknown_organization_or_a_missing_file_is_refused(acme: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    crm = tmp_path / "crm.csv"
    crm.write_text(HEADER, encoding="utf-8")
    code, _, err = run(capsys, "outcomes", "import", "--org", "umbrella", str(crm))
    assert code == 2 and "no organization named 'umbrella'" in err
    code, _, err = run(capsys, "outcomes", "import", "--org", "acme", str(tmp_path / "missing.csv"))
    assert code == 1 and "missing.csv" in err
