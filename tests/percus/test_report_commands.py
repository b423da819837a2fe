"""`percus report …`: every report of the reports API, with the API's numbers, as JSON or a table.

Data: tests/gateway/_reporting.py (the known sessions of acme and globex, and acme's campaigns running
now). Each command's JSON is compared with the `result` of the API's answer for the same filter, in
process (with the clock stopped for `live`) and once per command as a user runs it: `.venv/bin/percus`
with PERCUS_DATA_DIR.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway import reports_api
from percus.cli.report import FLAGS
from pipeline.reporting import reports
from pipeline.reporting.formatting import MISSING
from pipeline.reporting.selection import Selection
from tests.gateway._reporting import (
    ARCHIVED,
    CAMPAIGN,
    PROJECT_NAMES,
    SMALL_CAMPAIGN,
    Reporting,
    bearer,
    open_reporting,
)
from tests.percus._cli import run

D1, D2 = date(2026, 11, 24), date(2026, 11, 25)
PERCUS = Path(sys.executable).with_name("percus")
# The API's parameters and the options naming them.
OPTIONS = {"project_id": "--project", "template_id": "--template", "from": "--from", "to": "--to",
           "dimension": "--dimension", "minutes": "--minutes", "name": "--name", "audience": "--audience",
           "attribution_days": "--attribution-days"}
FILTERS: list[dict[str, Any]] = [
    {}, {"from": D1, "to": D2}, {"from": D1, "to": D1}, {"project_id": "p1"},
    {"template_id": "t1", "from": D1, "to": D2}, {"include_bots": "true", "from": D1, "to": D2},
    {"project_id": CAMPAIGN},
]
RANGE_REPORTS = ["summary", "dropoff", "ctas", "chapters", "errors", "engagement"]


@pytest.fixture(scope="module")
def reporting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reporting]:
    with open_reporting(tmp_path_factory.mktemp("report-commands")) as opened:
        yield opened


@pytest.fixture
def cli_env(reporting: Reporting, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The reporting data dir as PERCUS_DATA_DIR, for in-process runs and subprocesses alike."""
    monkeypatch.setenv("PERCUS_DATA_DIR", str(reporting.settings.data_dir))
    for name in ("PERCUS_QUEUE", "PERCUS_STORE", "PERCUS_QUERY_ENGINE", "PERCUS_TOKEN_KEYS"):
        monkeypatch.delenv(name, raising=False)
    return dict(os.environ)


def argv(report: str, params: dict[str, Any], *, org: str = "acme", format: str = "json") -> list[str]:
    args = ["report", report, "--org", org, "--format", format]
    for name, value in params.items():
        if name in ("include_bots", "include_archived"):
            args += [f"--{'' if value == 'true' else 'no-'}{name.replace('_', '-')}"]
        else:
            args += [OPTIONS[name], str(value)]
    return args


def cli_json(capsys: pytest.CaptureFixture[str], report: str, params: dict[str, Any]) -> Any:
    code, out, err = run(capsys, *argv(report, params))
    assert code == 0, err
    return json.loads(out)


def run_percus(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PERCUS), *args], env=env, capture_output=True, text=True, timeout=120)


def api(reporting: Reporting, report: str, params: dict[str, Any]) -> Any:
    response = reporting.client.get(f"{reports_api.PREFIX}/{report}", params=params,
                                    headers=bearer(reporting.keys.acme))
    assert response.status_code == 200, response.text
    return response.json()["result"]


@pytest.fixture
def stopped_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The reports' clock stopped now, so the live report of the CLI and of the API cover one window."""
    now = datetime.now(UTC)

    class Stopped(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return now if tz is not None else now.replace(tzinfo=None)

    monkeypatch.setattr(reports, "datetime", Stopped)
    return now


# -- the same numbers as the API ------------------------------------------------------------------

@pytest.mark.parametrize("params", FILTERS, ids=lambda params: ",".join(map(str, params.values())) or "all")
@pytest.mark.parametrize("report", RANGE_REPORTS)
def test_json_equals_the_api_result(reporting: Reporting, cli_env: dict[str, str],
                                    capsys: pytest.CaptureFixture[str], report: str,
                                    params: dict[str, Any]) -> None:
    assert cli_json(capsys, report, params) == api(reporting, report, params)


@pytest.mark.parametrize("dimension", ["device_type", "os", "browser", "locale", "country"])
def test_breakdown_json_equals_the_api_result(reporting: Reporting, cli_env: dict[str, str],
                                              capsys: pytest.CaptureFixture[str], dimension: str) -> None:
    for params in FILTERS[:4]:
        given = {**params, "dimension": dimension}
        found = cli_json(capsys, "breakdown", given)
        assert found == api(reporting, "breakdown", given)
        assert found["rows"]  # the data has every dimension


def test_live_json_equals_the_api_result(reporting: Reporting, cli_env: dict[str, str],
                                         capsys: pytest.CaptureFixture[str], stopped_clock: datetime) -> None:
    for params in ({}, {"project_id": CAMPAIGN}, {"minutes": 1440}, {"include_bots": "true"}):
        found = cli_json(capsys, "live", params)
        assert found == api(reporting, "live", params)
        assert found["views"] > 0  # the campaigns' sessions of the last hour


def test_the_known_values(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    # S8 is the only session of p2: one view, played and completed (tests/pipeline/_sessions.py).
    summary = cli_json(capsys, "summary", {"project_id": "p2", "from": D1, "to": D2})
    assert (summary["views"], summary["plays"], summary["completion_rate"]) == (1, 1, 1.0)
    errors = cli_json(capsys, "errors", {"project_id": "p1", "from": D1, "to": D2})
    assert [(code["error_code"], code["errors"]) for code in errors["codes"]] == [
        ("MEDIA_ERR_NETWORK", 2), ("MEDIA_ERR_DECODE", 1)]


@pytest.mark.parametrize(("report", "params"), [
    ("summary", {"from": D1, "to": D2}), ("dropoff", {}), ("ctas", {"project_id": CAMPAIGN}),
    ("chapters", {"from": D1, "to": D2}), ("breakdown", {"dimension": "country"}),
    ("errors", {"project_id": "p1"}), ("engagement", {"from": D1, "to": D2}),
])
def test_the_installed_command_prints_the_api_result(reporting: Reporting, cli_env: dict[str, str],
                                                    report: str, params: dict[str, Any]) -> None:
    done = run_percus(cli_env, *argv(report, params))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == api(reporting, report, params)


def test_the_installed_live_command_prints_the_api_numbers(reporting: Reporting,
                                                           cli_env: dict[str, str]) -> None:
    done = run_percus(cli_env, *argv("live", {"project_id": CAMPAIGN}))
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    until = datetime.fromisoformat(found["until"].replace("Z", "+00:00"))
    assert found == reports.live(reporting.engine, "acme", Selection(project_id=CAMPAIGN), now=until)
    # A second later the API sees the same sessions (they started 4 to 55 minutes ago).
    answer = api(reporting, "live", {"project_id": CAMPAIGN})
    moving = {"since", "until", "errors_per_bucket"}
    assert {k: v for k, v in found.items() if k not in moving} == {
        k: v for k, v in answer.items() if k not in moving}
    assert found["views"] > 0


# -- tables ----------------------------------------------------------------------------------------

def table(capsys: pytest.CaptureFixture[str], report: str, params: dict[str, Any]) -> list[str]:
    code, out, err = run(capsys, *argv(report, params, format="table"))
    assert code == 0, err
    return out.splitlines()


def cells(line: str) -> list[str]:
    """The cells of a table line (columns are two or more spaces apart)."""
    return re.split(r"\s{2,}", line.strip())


def starts(lines: list[str], *expected: str) -> bool:
    """Whether a line of the table begins with these cells."""
    return any(cells(line)[:len(expected)] == list(expected) for line in lines)


def pct(fraction: float) -> str:
    return f"{fraction * 100:.1f} %"


def test_tables_print_the_headline_numbers(reporting: Reporting, cli_env: dict[str, str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Human headers and units, from pipeline/reporting/formatting.py (as the dashboard and digest)."""
    summary = api(reporting, "summary", {"from": D1, "to": D2})
    lines = table(capsys, "summary", {"from": D1, "to": D2})
    assert starts(lines, "Views", f"{summary['views']:,}") and starts(lines, "Plays", f"{summary['plays']:,}")
    assert starts(lines, "Completion rate", pct(summary["completion_rate"]))
    assert starts(lines, "CTA click-through", pct(summary["cta_ctr"]))
    assert starts(lines, "Avg. furthest point", f"{summary['avg_max_percent']:.1f} %")

    dropoff = api(reporting, "dropoff", {})
    lines = table(capsys, "dropoff", {})
    assert cells(lines[0]) == ["Plays", str(dropoff["plays"])]
    assert starts(lines, "Point of the video", "Sessions", "Share of plays")
    for milestone in dropoff["milestones"]:
        assert starts(lines, f"{milestone['percent']:.1f} %", str(milestone["sessions"]),
                      pct(milestone["fraction"]))

    ctas = api(reporting, "ctas", {"project_id": CAMPAIGN})
    lines = table(capsys, "ctas", {"project_id": CAMPAIGN})
    assert starts(lines, "Views", str(ctas["views"]))
    assert starts(lines, "CTA click-through", pct(ctas["cta_ctr"]))
    assert ctas["ctas"]
    for row in ctas["ctas"]:
        assert any(cells(line)[0] == row["cta_id"] and line.endswith(pct(row["cta_ctr"])) for line in lines)

    breakdown = api(reporting, "breakdown", {"dimension": "country"})
    lines = table(capsys, "breakdown", {"dimension": "country"})
    assert starts(lines, "Views", str(breakdown["views"])) and "By country:" in lines
    assert starts(lines, "Country", "Views", "Share")
    for row in breakdown["rows"]:
        assert starts(lines, row["value"] or "(unknown)", str(row["views"]), pct(row["share"]))

    errors = api(reporting, "errors", {"project_id": "p1"})
    lines = table(capsys, "errors", {"project_id": "p1"})
    assert errors["errors"] == 3  # the project asked for, named, then the report
    assert [cells(line) for line in lines[:3]] == [["Project", "p1"], ["Project name", "Renewals"],
                                                   ["Errors", "3"]]
    assert starts(lines, "MEDIA_ERR_NETWORK", "2")

    chapters = api(reporting, "chapters", {"from": D1, "to": D2})
    lines = table(capsys, "chapters", {"from": D1, "to": D2})
    assert cells(lines[0]) == ["Plays", str(chapters["plays"])]
    for row in chapters["chapters"]:
        assert starts(lines, row["chapter_id"])

    curve = api(reporting, "engagement", {"project_id": "p2"})  # S8: all watched, 50-59 twice
    lines = table(capsys, "engagement", {"project_id": "p2"})
    assert starts(lines, "Plays with watched data", "1") and starts(lines, "Avg. watched", "100.0 %")
    assert starts(lines, "Percent of the video", "Watched", "Watched again", "Plays that watched",
                  "Plays that watched again")
    assert starts(lines, "49", "100.0 %", "0.0 %", "1", "0")
    assert starts(lines, "50", "100.0 %", "100.0 %", "1", "1")
    assert len(curve["buckets"]) == 100


def test_the_projects_list_names_them_and_hides_the_archived(reporting: Reporting, cli_env: dict[str, str],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    for params in ({"from": D1, "to": D2}, {"from": D1, "to": D2, "include_archived": "true"},
                   {"include_archived": "false"}, {}):
        assert cli_json(capsys, "projects", params) == api(reporting, "projects", params)
    lines = table(capsys, "projects", {"from": D1, "to": D2})
    assert starts(lines, "Archived hidden", "1")
    assert starts(lines, "Project", "Project name", "Archived", "Views")
    assert starts(lines, "p1", "Renewals", "no", "8") and not any(ARCHIVED in line for line in lines)
    lines = table(capsys, "projects", {"from": D1, "to": D2, "include_archived": "true"})
    assert starts(lines, ARCHIVED, PROJECT_NAMES[ARCHIVED], "yes", "1")
    lines = table(capsys, "projects", {})
    assert starts(lines, CAMPAIGN, "Spring launch", "no") and starts(lines, SMALL_CAMPAIGN, MISSING, "no")


def test_a_report_table_names_the_project_and_template_asked_for(cli_env: dict[str, str],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    lines = table(capsys, "summary", {"project_id": CAMPAIGN, "template_id": "welcome"})
    assert starts(lines, "Project", CAMPAIGN) and starts(lines, "Project name", "Spring launch")
    assert starts(lines, "Template", "welcome") and starts(lines, "Template name", "Welcome")
    assert not any(line.startswith("Project") for line in table(capsys, "summary", {}))


def test_the_live_table(reporting: Reporting, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str],
                        stopped_clock: datetime) -> None:
    live = api(reporting, "live", {})
    lines = table(capsys, "live", {})
    assert starts(lines, "Views", str(live["views"])) and starts(lines, "Errors", str(live["errors"]))
    assert starts(lines, "Error spike", "yes" if live["error_spike"] else "no")
    assert "Errors per 5 minutes:" in lines


# -- what it refuses -------------------------------------------------------------------------------

@pytest.mark.parametrize("report", list(reports_api.REPORTS))
def test_an_unknown_organization_is_an_error_not_zeros(cli_env: dict[str, str],
                                                       capsys: pytest.CaptureFixture[str],
                                                       report: str) -> None:
    extra = {"breakdown": {"dimension": "os"}, "outcomes": {"name": "renewed"}}.get(report, {})
    code, out, err = run(capsys, *argv(report, extra, org="umbrella"))
    assert (code, out) == (2, "")
    assert err == "percus: error: no organization named 'umbrella' (see `percus org create`)\n"


def test_the_installed_command_refuses_an_unknown_organization(cli_env: dict[str, str]) -> None:
    done = run_percus(cli_env, "report", "summary", "--org", "umbrella")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "percus: error: no organization named 'umbrella' (see `percus org create`)\n"


@pytest.mark.parametrize(("args", "message"), [
    (["summary", "--from", "2026-11-25", "--to", "2026-11-24"],
     "--from (2026-11-25) is after --to (2026-11-24)"),
    (["dropoff", "--from", "24-11-2026"], "--from must be a date as YYYY-MM-DD, not '24-11-2026'"),
    (["ctas", "--to", "2026-02-30"], "--to must be a date as YYYY-MM-DD"),
    (["errors", "--from", "1999-12-31"], "--from must lie between 2000-01-01"),
    (["chapters", "--from", "2020-01-01", "--to", "2026-01-01"], "a range spans at most"),
    (["summary", "--project", "../etc"], "project '../etc' must be 1-64 characters"),
    (["summary", "--template", ""], "template '' must be 1-64 characters"),
    (["live", "--minutes", "0"], "--minutes must be a whole number from 1 to 1440"),
    (["live", "--minutes", "soon"], "--minutes must be a whole number"),
    (["summary", "--org", "../acme"], "organization '../acme' must be 1-64 characters"),
])
def test_bad_options_are_usage_errors_naming_the_option(cli_env: dict[str, str],
                                                        capsys: pytest.CaptureFixture[str],
                                                        args: list[str], message: str) -> None:
    org = [] if "--org" in args else ["--org", "acme"]
    code, out, err = run(capsys, "report", *args, *org)
    assert code == 2 and out == ""
    assert err.startswith("percus: error: ") and message in err and "Traceback" not in err
    assert "date_from" not in err and "date_to" not in err


def test_argparse_refuses_a_dimension_the_api_does_not_have(cli_env: dict[str, str],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "report", "breakdown", "--org", "acme", "--dimension", "city")
    assert code == 2 and "invalid choice: 'city'" in err
    code, _, err = run(capsys, "report", "breakdown", "--org", "acme")
    assert code == 2 and "--dimension" in err
    code, _, err = run(capsys, "report", "live", "--org", "acme", "--from", "2026-11-24")
    assert code == 2 and "unrecognized arguments: --from" in err


@pytest.mark.parametrize("report", list(reports_api.REPORTS))
def test_every_report_of_the_api_is_a_command_with_its_parameters(capsys: pytest.CaptureFixture[str],
                                                                  report: str) -> None:
    code, out, _ = run(capsys, "report", report, "--help")
    assert code == 0
    for param in reports_api.REPORTS[report]:
        assert FLAGS[param.name][0] in out
