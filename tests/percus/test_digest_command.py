"""`percus digest` and `percus org digest` as an operator types them: clear errors, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from percus.cli import main
from pipeline.governance import audit
from pipeline.governance.registry import OrganizationRegistry
from pipeline.reporting.digest import Week
from pipeline.store.local import LocalStore
from tests.pipeline._sessions import ingest, known_sessions


def percus(*argv: str) -> int:
    try:
        main(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


@pytest.fixture
def store(data_dir: Path) -> LocalStore:
    """The known sessions (acme, 2026-W48) in the embedded default's bucket, acme created."""
    bucket = LocalStore(data_dir / "bucket")
    sessions, duplicates = known_sessions()
    ingest(bucket, sessions, duplicates)
    OrganizationRegistry(bucket, cache_seconds=0).create("acme")
    return bucket


def test_digest_writes_the_pdf(store: LocalStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "acme.pdf"
    assert percus("digest", "--org", "acme", "--week", "2026-W48", "--out", str(out)) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out)
    assert "acme, 2026-W48: 1 page(s)" in captured.err
    assert out.read_bytes().startswith(b"%PDF-")
    text = subprocess.run(["pdftotext", "-raw", str(out), "-"], check=True, capture_output=True, text=True)
    assert "VIEWS\n9\n" in text.stdout

    assert percus("digest", "--org", "acme", "--week", "2026-W48", "--out", str(tmp_path)) == 0  # a folder
    assert (tmp_path / "percus-digest-acme-2026-W48.pdf").exists()


def test_the_default_week_is_the_last_complete_one(store: LocalStore, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert percus("digest", "--org", "acme") == 0
    week = Week.last_complete(datetime.now(UTC))
    assert capsys.readouterr().out.strip() == f"percus-digest-acme-{week}.pdf"
    assert (tmp_path / f"percus-digest-acme-{week}.pdf").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (("digest", "--org", "nobody"),
     "unknown organization 'nobody': create it with `percus org create nobody`"),
    (("digest", "--org", "acme", "--week", "2026-48"), "--week: a week is written YYYY-Www, e.g. 2026-W48"),
    (("digest", "--org", "acme", "--week", "2025-W53"), "--week: 2025 has no ISO week 53"),
    (("digest", "--org", "acme", "--week", "2999-W01"), "week 2999-W01 is not over until 2999-01-07"),
    (("digest", "--org", "../etc", "--week", "2026-W48"), "organization"),
    (("digest", "--org", "acme", "--week", "2026-W48", "--send"), "'acme' has not opted in to the digest"),
    (("digest", "--org", "acme", "--week", "2026-W48", "--out", "/nonexistent/x.pdf"),
     "cannot write /nonexistent/x.pdf: No such file or directory"),
    (("org", "digest", "acme", "--digest-to", "not-an-address"), "'not-an-address' is not an e-mail address"),
    (("org", "digest", "nobody", "--digest-to", "ana@acme.example"), "unknown organization 'nobody'"),
])
def test_errors_are_one_clear_line(store: LocalStore, argv: tuple[str, ...], message: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert percus(*argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("percus: error: ") and message in captured.err
    assert "Traceback" not in captured.err and len(captured.err.strip().splitlines()) == 1


def test_a_week_without_views_still_makes_a_pdf(store: LocalStore, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert percus("digest", "--org", "acme", "--week", "2026-W10", "--out", str(tmp_path / "x.pdf")) == 0
    assert "no views in this week (the PDF says so)" in capsys.readouterr().err


def test_org_digest_opts_in_and_send_delivers_to_the_outbox(store: LocalStore, data_dir: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert percus("org", "digest", "acme") == 0
    assert capsys.readouterr().out == "weekly digest of 'acme': disabled, 0 recipient(s)\n"
    assert percus("org", "digest", "acme", "--digest-to", "ana@acme.example", "--digest-to",
                  "bo@acme.example") == 0
    assert capsys.readouterr().out == ("weekly digest of 'acme': enabled, 2 recipient(s): ana@acme.example, "
                                       "bo@acme.example\n")
    assert percus("digest", "--org", "acme", "--week", "2026-W48", "--send") == 0
    out = capsys.readouterr().out
    assert out.startswith("sent the digest of acme for 2026-W48 to 2 recipient(s) (outbox: ")
    (folder,) = (data_dir / "outbox").iterdir()
    assert json.loads((folder / "envelope.json").read_text())["to"] == ["ana@acme.example", "bo@acme.example"]
    (record,) = audit.list_records(store, action="digest")
    assert record["details"]["trigger"] == "cli" and record["actor"].startswith("cli")

    assert percus("org", "digest", "acme", "--no-digest") == 0
    assert "disabled, 2 recipient(s)" in capsys.readouterr().out
    assert percus("digest", "--org", "acme", "--week", "2026-W48", "--send") == 2


def test_help_names_the_options() -> None:
    result = subprocess.run([sys.executable, "-m", "percus", "digest", "--help"], capture_output=True,
                            text=True, check=True)
    for option in ("--org", "--week", "--out", "--send"):
        assert option in result.stdout
    result = subprocess.run([sys.executable, "-m", "percus", "org", "digest", "--help"], capture_output=True,
                            text=True, check=True)
    assert "--digest-to" in result.stdout and "--no-digest" in result.stdout


def test_preview_renders_the_current_week_so_far(store: LocalStore, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert percus("digest", "--org", "acme", "--preview", "--out", str(tmp_path)) == 0
    week = Week.of(datetime.now(UTC).date())
    out = tmp_path / f"percus-digest-acme-{week}-preview.pdf"
    assert capsys.readouterr().out.strip() == str(out)
    text = subprocess.run(["pdftotext", "-raw", str(out), "-"], check=True, capture_output=True, text=True)
    assert "Preview: this week is not over." in text.stdout
    assert percus("digest", "--org", "acme", "--preview", "--send") == 2
    assert "--preview is never sent" in capsys.readouterr().err
