"""GET /analytics/v1/reports/outcomes and `percus report outcomes`: the report of
pipeline/reporting/outcomes.py for the key's organization only, its parameters checked."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.reporting.formatting import label
from pipeline.reporting.outcomes import outcomes
from tests.gateway._headers import metric_headers
from tests.gateway._reporting import OutcomesApp, open_outcomes
from tests.percus._cli import run
from tests.pipeline._outcomes import EXPECTED_COHORTS, RANGE

PATH = "/analytics/v1/reports/outcomes"
WINDOW = {"from": "2026-11-24", "to": "2026-11-25"}


class Served(OutcomesApp):
    def get(self, key: str, **params: Any) -> httpx.Response:
        return self.client.get(PATH, params=params, headers={"Authorization": f"Bearer {key}"})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with open_outcomes(tmp_path_factory.mktemp("outcomes-report"), Served) as app:
        yield app


def test_the_api_answers_the_report_of_the_keys_organization(served: Served) -> None:
    response = served.get(served.acme, name="policy_renewed", audience="letters", **WINDOW)
    assert response.status_code == 200
    body = response.json()
    assert body["filters"] == {"project_id": None, "project_name": None, "template_id": None,
                               "template_name": None, "include_bots": False, **WINDOW,
                               "name": "policy_renewed", "audience": "letters", "attribution_days": 30}
    assert body["result"]["cohorts"] == EXPECTED_COHORTS
    engine = DuckDbEngine(served.store)
    assert body["result"] == outcomes(engine, "acme", "policy_renewed", RANGE, audience="letters")
    engine.close()


def test_another_organizations_key_sees_nothing_of_acme(served: Served) -> None:
    refused = served.get(served.globex, name="policy_renewed", organization_id="acme", **WINDOW)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "organization_forbidden")
    own = served.get(served.globex, name="policy_renewed", audience="letters", **WINDOW).json()
    assert own["organization_id"] == "globex"
    assert (own["result"]["people"], own["result"]["converted"]) == (1, 1)  # its own viewer only
    assert own["result"]["cohorts"][0]["people"] == 0  # acme's audience is not globex's


@pytest.mark.parametrize(("params", "code", "field"), [
    ({}, "missing_parameter", "name"),
    ({"name": "bad name"}, "invalid_parameter", "name"),
    ({"name": "x", "audience": "../x"}, "invalid_parameter", "audience"),
    ({"name": "x", "attribution_days": "0"}, "invalid_parameter", "attribution_days"),
    ({"name": "x", "attribution_days": "366"}, "invalid_parameter", "attribution_days"),
    ({"name": "x", "attribution": "3"}, "unknown_parameter", "attribution"),
])
def test_bad_parameters_are_400s_naming_them(served: Served, params: dict[str, str], code: str,
                                             field: str) -> None:
    response = served.get(served.acme, **params)
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)


def test_the_command_prints_the_same_report(served: Served, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERCUS_DATA_DIR", str(served.root))
    for name in ("PERCUS_QUEUE", "PERCUS_STORE", "PERCUS_QUERY_ENGINE", "PERCUS_TOKEN_KEYS"):
        monkeypatch.delenv(name, raising=False)
    base = ["report", "outcomes", "--org", "acme", "--name", "policy_renewed", "--audience", "letters",
            "--from", WINDOW["from"], "--to", WINDOW["to"]]
    code, out, _ = run(capsys, *base, "--format", "json")
    assert code == 0
    api = served.get(served.acme, name="policy_renewed", audience="letters", **WINDOW).json()["result"]
    assert json.loads(out) == api
    code, out, _ = run(capsys, *base)
    assert code == 0
    assert "110.5 EUR" in out and "50 EUR, 25.25 USD" in out and "Conversion rate" in out  # human headers
    assert "Viewed, never played" in out and "viewed_not_played" not in out  # the dashboard's cohort labels
    code, _, err = run(capsys, *base, "--attribution-days", "400")
    assert code == 2 and "--attribution-days must be a whole number from 1 to 365" in err


def test_the_outcomes_export_kind(served: Served) -> None:
    def export(body: dict[str, Any]) -> httpx.Response:
        return served.client.post("/analytics/v1/exports", json=body,
                                   headers={"Authorization": f"Bearer {served.acme}"})

    made = export({"kind": "outcomes", "from": "2026-11-24", "to": "2026-11-26"})
    assert made.status_code == 201 and made.json()["rows"] == 4
    download = served.client.get(made.json()["url"])
    assert download.text.splitlines()[0] == ('"outcome_id","viewer_hash","name","value","currency",'
                                             '"occurred_at","received_at"')
    refused = export({"kind": "outcomes", "project_id": "p1"})
    assert refused.status_code == 400
    assert (refused.json()["error"]["code"], refused.json()["error"]["field"]) == ("invalid_parameter",
                                                                                   "project_id")


def test_the_project_page_shows_a_panel_per_outcome(served: Served) -> None:
    served.client.cookies.clear()
    signed = served.client.post("/dashboard/sign-in", data={"key": served.acme}, follow_redirects=False)
    assert signed.status_code == 303
    try:
        page = served.client.get("/dashboard/orgs/acme/projects/p1", params=WINDOW)
        assert page.status_code == 200
        panels = re.findall(r'data-section="outcomes" data-outcome="([^"]+)"', page.text)
        assert panels == ["policy_renewed", "newsletter"]  # the most frequent first
        completed = page.text.split('data-cohort="completed"', 1)[1].split("</tr>", 1)[0]
        assert '"people">2<' in completed and '"converted">2<' in completed and "110.5 EUR" in completed
        headers = metric_headers(page.text)  # each column headed as the command line heads it
        assert {metric for metric, _ in headers} >= {"people", "converted", "conversion_rate",
                                                     "median_days_to_convert", "value"}
        assert [(metric, header) for metric, header in headers if header != label(metric)] == []
        assert "not the video&#39;s effect" in page.text or "not the video's effect" in page.text
        refused = served.client.post("/dashboard/orgs/acme/projects/p1/export",
                                     data={"kind": "outcomes", **WINDOW})
        assert refused.status_code == 400
    finally:
        served.client.cookies.clear()
