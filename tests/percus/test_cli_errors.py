"""Bad input on the command line: one `percus: error: …` line naming the option, exit code 2 for usage
errors (1 for what the environment refuses), never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.percus._cli import run
from tests.reliability._serve import serving

PERCUS = Path(sys.executable).with_name("percus")


@pytest.fixture
def acme(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert run(capsys, "org", "create", "acme")[0] == 0
    return "acme"


@pytest.mark.parametrize("hour", ["nonsense", "2026-11-25", "2026-13-01T10", "2026-11-25T24", "2026-11-25T1",
                                  "2026-11-25 10", "2026-11-25T10:00"])
def test_compact_hour_names_the_expected_format(data_dir: Path, capsys: pytest.CaptureFixture[str],
                                                hour: str) -> None:
    code, out, err = run(capsys, "compact", "--hour", hour)
    assert (code, out) == (2, "")
    assert err == f"percus: error: --hour must look like 2026-11-25T10 (YYYY-MM-DDTHH, UTC), not {hour!r}\n"


@pytest.mark.parametrize("day", ["nonsense", "20261125", "2026-W48-3", "2026-02-30", "2026-11-25T10"])
def test_rollup_date_names_the_expected_format(data_dir: Path, capsys: pytest.CaptureFixture[str],
                                               day: str) -> None:
    code, out, err = run(capsys, "rollup", "--date", day)
    assert (code, out) == (2, "")
    assert err == f"percus: error: --date must be a date as YYYY-MM-DD, not {day!r}\n"
    assert "strptime" not in err and "does not match format" not in err


def test_a_good_hour_and_date_still_run(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "compact", "--hour", "2026-11-25T10")[0] == 0
    assert run(capsys, "rollup", "--date", "2026-11-25")[0] == 0


def test_export_dates_name_the_options(acme: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "export", "csv", "--org", acme, "--from", "2026-11-25", "--to", "2026-11-24")
    assert code == 2 and err == "percus: error: --from (2026-11-25) is after --to (2026-11-24)\n"
    code, _, err = run(capsys, "export", "csv", "--org", acme, "--to", "25/11/2026")
    assert code == 2 and err == "percus: error: --to must be a date as YYYY-MM-DD, not '25/11/2026'\n"


def test_a_file_that_cannot_be_written_is_one_line(acme: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-dir" / "out.csv"
    code, _, err = run(capsys, "export", "csv", "--org", acme, "--out", str(missing))
    assert code == 1 and err == f"percus: error: No such file or directory: {missing}\n"
    code, out, _ = run(capsys, "audit", "list", "--action", "export")
    assert code == 0 and out == ""  # nothing was exported


@pytest.mark.parametrize(("argv", "message"), [
    (["serve", "--port", "99999"], "argument --port: a port is a number from 1 to 65535, not '99999'"),
    (["serve", "--port", "-1"], "argument --port: a port is a number from 1 to 65535"),
    (["serve", "--workers", "0"], "argument --workers: a number of workers is from 1 to 256, not '0'"),
    (["serve", "--workers", "two"], "argument --workers: a number of workers is from 1 to 256"),
    (["org", "create", "x", "--retention-days", "0"], "argument --retention-days: a number of days is"),
    (["org", "create", "x", "--retention-days", "ten"], "argument --retention-days: a number of days is"),
    (["org", "set", "acme"], "say what to change: --retention-days N, --no-retention-override or"),
    (["org", "set", "acme", "--retention-days", "3", "--no-retention-override"], "not allowed with"),
    (["org", "key", "../x"], "organization '../x' must be 1-64 characters"),
    (["org", "key", "nobody"], "unknown organization 'nobody'"),
    (["org", "set", "nobody", "--retention-days", "3"], "unknown organization 'nobody'"),
    (["legacy", "register", "--org", "acme", "--project", "p", "--attachment-code", ""],
     "an attachment code is 1-256 characters"),
    (["legacy", "register", "--org", "acme", "--project", "p", "--attachment-code", "x" * 257],
     "an attachment code is 1-256 characters"),
    (["legacy", "register", "--org", "acme", "--project", "p", "--attachment-code", "c",
      "--template", "../t"], "template '../t' must be 1-64 characters"),
    (["legacy", "register", "--org", "nobody", "--project", "p", "--attachment-code", "c"],
     "unknown organization 'nobody'"),
    (["token", "issue", "--org", "acme", "--project", "p", "--ttl", "forever"], "TTL 'forever'"),
    (["token", "issue", "--org", "acme", "--project", "p", "--origin", "nonsense"], "origin 'nonsense'"),
    (["dsar", "delete", "--org", "acme", "--viewer-hash", "1234"], "64 hexadecimal"),
    (["audit", "list", "--since", "last week"], "--since"),
    (["admin", "key", "--revoke", "zz"], "no active admin key 'zz'"),
    (["report", "summary", "--org", "acme", "--nonsense"], "unrecognized arguments: --nonsense"),
    (["nonsense"], "invalid choice: 'nonsense'"),
])
def test_nonsense_arguments_are_usage_errors(acme: str, capsys: pytest.CaptureFixture[str], argv: list[str],
                                             message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err
    # `percus: error: …`, or argparse's `percus org set: error: …` after the usage
    assert err.splitlines()[-1].startswith("percus")


@pytest.mark.slow
def test_a_second_serve_on_the_same_data_dir_is_a_one_line_error(tmp_path: Path) -> None:
    with serving(tmp_path):
        second = subprocess.run([str(PERCUS), "serve", "--port", str(free_port())], capture_output=True,
                                text=True, timeout=60, env={**os.environ, "PERCUS_DATA_DIR": str(tmp_path)})
    assert second.returncode == 1
    assert second.stderr == f"percus: error: another percus serve uses {tmp_path.resolve() / 'queue'}\n"
    assert second.stdout == ""
