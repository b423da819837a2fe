"""GET /analytics/v1/reports/…: the numbers of pipeline.reporting.reports, one org per key, clear 400s.

Data: tests/gateway/_reporting.py (the known sessions of acme and globex, which share a project id
`p1`, and acme's campaigns running now).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway import reports_api
from pipeline.governance.registry import OrganizationRegistry
from pipeline.query.sql import DIMENSIONS
from pipeline.reporting import reports
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

D1, D2 = date(2026, 11, 24), date(2026, 11, 25)
REPORTS = "/analytics/v1/reports"


@pytest.fixture(scope="module")
def reporting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reporting]:
    with open_reporting(tmp_path_factory.mktemp("reports-api")) as opened:
        yield opened


def get(reporting: Reporting, report: str, key: str, **params: Any) -> Any:
    return reporting.client.get(f"{REPORTS}/{report}", params=params, headers=bearer(key))


def result(reporting: Reporting, report: str, key: str, **params: Any) -> dict[str, Any]:
    response = get(reporting, report, key, **params)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    body: dict[str, Any] = response.json()
    return body["result"]


FILTERS: list[dict[str, Any]] = [
    {}, {"from": D1, "to": D2}, {"from": D1, "to": D1}, {"project_id": "p1"}, {"project_id": "p2"},
    {"template_id": "t1", "from": D1, "to": D2}, {"include_bots": "true", "from": D1, "to": D2},
    {"project_id": CAMPAIGN},
]


def _selection(params: dict[str, Any]) -> Selection:
    return Selection(project_id=params.get("project_id"), template_id=params.get("template_id"),
                     date_from=params.get("from"), date_to=params.get("to"),
                     include_bots=params.get("include_bots") == "true")


@pytest.mark.parametrize("params", FILTERS, ids=lambda params: ",".join(map(str, params.values())) or "all")
@pytest.mark.parametrize("report", ["summary", "dropoff", "ctas", "chapters", "errors"])
def test_reports_equal_the_pipeline_reports(reporting: Reporting, report: str,
                                            params: dict[str, Any]) -> None:
    expected = getattr(reports, report)(reporting.engine, "acme", _selection(params))
    assert result(reporting, report, reporting.keys.acme, **params) == expected


@pytest.mark.parametrize("dimension", sorted(DIMENSIONS))
def test_breakdown_equals_the_pipeline_breakdown(reporting: Reporting, dimension: str) -> None:
    for params in FILTERS[:4]:
        expected = reports.breakdown(reporting.engine, "acme", dimension, _selection(params))
        assert result(reporting, "breakdown", reporting.keys.acme, dimension=dimension, **params) == expected


def test_known_values_and_the_echoed_filters(reporting: Reporting) -> None:
    # S8 is the only session of p2: one view, played and completed (tests/pipeline/_sessions.py).
    response = get(reporting, "summary", reporting.keys.acme, project_id="p2", **{"from": D1, "to": D2})
    body = response.json()
    assert body["organization_id"] == "acme" and body["report"] == "summary"
    assert body["filters"] == {"project_id": "p2", "project_name": "Pension projection", "template_id": None,
                               "template_name": None, "include_bots": False, "from": "2026-11-24",
                               "to": "2026-11-25"}
    summary = body["result"]
    counts = (summary["views"], summary["plays"], summary["completions"], summary["completion_rate"])
    assert counts == (1, 1, 1, 1.0)
    errors = result(reporting, "errors", reporting.keys.acme, **{"from": D1, "to": D2}, project_id="p1")
    assert [(code["error_code"], code["errors"]) for code in errors["codes"]] == [
        ("MEDIA_ERR_NETWORK", 2), ("MEDIA_ERR_DECODE", 1)]


def test_live_equals_the_pipeline_live_report(reporting: Reporting) -> None:
    for params in ({}, {"project_id": CAMPAIGN}, {"minutes": "1440"}):
        before = datetime.now(UTC)
        answer = result(reporting, "live", reporting.keys.acme, **params)
        now = datetime.fromisoformat(answer["until"].replace("Z", "+00:00"))
        assert before - timedelta(seconds=1) <= now <= datetime.now(UTC)
        expected = reports.live(reporting.engine, "acme", Selection(project_id=params.get("project_id")),
                                now=now, minutes=int(params.get("minutes", 60)))
        assert answer == expected
        assert answer["views"] > 0  # the campaigns' sessions of the last hour


# -- keys and organizations ----------------------------------------------------------------------

def test_a_request_without_a_valid_key_is_401(reporting: Reporting, tmp_path: Path) -> None:
    missing = reporting.client.get(f"{REPORTS}/summary")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "api_key_missing"
    assert missing.headers["www-authenticate"] == "Bearer"
    for key in ("pk_nope", reporting.keys.acme[:-1] + "x", reporting.keys.acme.replace("_acme", "_globex"),
                reporting.keys.admin[:-2] + "00", "Basic abc"):
        refused = get(reporting, "summary", key)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "api_key_invalid", key
    basic = reporting.client.get(f"{REPORTS}/summary",
                                 headers={"Authorization": f"Basic {reporting.keys.acme}"})
    assert basic.json()["error"]["code"] == "api_key_missing"


def test_a_revoked_key_is_refused(reporting: Reporting) -> None:
    registry = OrganizationRegistry(reporting.store)
    key = registry.create_api_key("globex")
    assert get(reporting, "summary", key).status_code == 200
    registry.revoke_api_key("globex", key.split("_")[1])
    assert get(reporting, "summary", key).json()["error"]["code"] == "api_key_invalid"
    admin = registry.create_admin_key()
    assert get(reporting, "summary", admin, organization_id="globex").status_code == 200
    registry.revoke_admin_key(admin.split("_")[1])
    assert get(reporting, "summary", admin, organization_id="globex").status_code == 401


@pytest.mark.parametrize("report", list(reports_api.REPORTS))
def test_an_organization_key_never_reads_another_organization(reporting: Reporting, report: str) -> None:
    extra = {"breakdown": {"dimension": "country"}, "outcomes": {"name": "renewed"}}.get(report, {})
    for other in ("globex", "initech", "no-such-org", "ACME"):
        refused = get(reporting, report, reporting.keys.acme, organization_id=other, **extra)
        assert refused.status_code == 403, other
        assert refused.json()["error"] == {"code": "organization_forbidden", "field": "organization_id",
                                           "message": "this API key reads its own organization only"}
    malformed = get(reporting, report, reporting.keys.acme, organization_id="../globex", **extra)
    assert malformed.status_code == 400 and malformed.json()["error"]["field"] == "organization_id"
    own = get(reporting, report, reporting.keys.acme, organization_id="acme", **extra)
    assert own.status_code == 200 and own.json()["organization_id"] == "acme"


def test_a_shared_project_id_shows_only_the_keys_organization(reporting: Reporting) -> None:
    # globex's two sessions are in a project also called p1; acme's key must see acme's p1 only.
    acme = result(reporting, "summary", reporting.keys.acme, project_id="p1", **{"from": D1, "to": D2})
    globex = result(reporting, "summary", reporting.keys.globex, project_id="p1", **{"from": D1, "to": D2})
    p1 = Selection(project_id="p1", date_from=D1, date_to=D2)
    assert acme == reports.summary(reporting.engine, "acme", p1)
    assert globex == reports.summary(reporting.engine, "globex", p1)
    assert (acme["views"], globex["views"]) == (8, 2)  # S1-S7 and S10; two globex sessions
    for report in reports_api.REPORTS:
        extra = {"breakdown": {"dimension": "device_type"}, "outcomes": {"name": "renewed"}}.get(report, {})
        assert "globex" not in get(reporting, report, reporting.keys.acme, **extra).text


def test_an_admin_key_names_the_organization(reporting: Reporting) -> None:
    admin = reporting.keys.admin
    required = get(reporting, "summary", admin)
    assert required.status_code == 400
    assert required.json()["error"]["code"] == "organization_required"
    assert required.json()["error"]["field"] == "organization_id"
    unknown = get(reporting, "summary", admin, organization_id="umbrella")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_organization"
    bad = get(reporting, "summary", admin, organization_id="../acme")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "organization_id"
    for org in ("acme", "globex", "initech"):
        expected = reports.summary(reporting.engine, org)
        assert result(reporting, "summary", admin, organization_id=org) == expected


def test_the_projects_report_names_them_and_hides_the_archived(reporting: Reporting) -> None:
    days = {"from": D1, "to": D2}
    shown = result(reporting, "projects", reporting.keys.acme, **days)
    everything = result(reporting, "projects", reporting.keys.acme, include_archived="true", **days)
    assert shown == reports.projects(reporting.engine, "acme", Selection(date_from=D1, date_to=D2))
    assert [(row["project_id"], row["project_name"], row["archived"]) for row in shown["projects"]] == [
        ("p1", "Renewals", False)]
    assert shown["archived_hidden"] == 1
    assert [(row["project_id"], row["project_name"], row["archived"]) for row in everything["projects"]] == [
        ("p1", "Renewals", False), (ARCHIVED, PROJECT_NAMES[ARCHIVED], True)]
    assert everything["archived_hidden"] == 0
    # Archiving hides a project from the list, never its data from the organization's totals.
    summary = result(reporting, "summary", reporting.keys.acme, **days)
    assert sum(row["views"] for row in everything["projects"]) == summary["views"] == 9
    assert result(reporting, "summary", reporting.keys.acme, project_id=ARCHIVED, **days)["views"] == 1

    now = result(reporting, "projects", reporting.keys.acme, include_archived="false")
    assert {(row["project_id"], row["project_name"]) for row in now["projects"]} >= {
        (CAMPAIGN, "Spring launch"), (SMALL_CAMPAIGN, None)}  # the platform never named loyalty-q4
    answer = get(reporting, "ctas", reporting.keys.acme, project_id=CAMPAIGN, template_id="welcome").json()
    assert answer["filters"] | {"from": None, "to": None} == {
        "project_id": CAMPAIGN, "project_name": "Spring launch", "template_id": "welcome",
        "template_name": "Welcome", "include_bots": False, "from": None, "to": None}
    # Another organization's key never sees acme's names: globex has its own p1, unnamed.
    globex = get(reporting, "summary", reporting.keys.globex, project_id="p1").json()
    assert globex["filters"]["project_name"] is None


# -- bad parameters --------------------------------------------------------------------------------

@pytest.mark.parametrize(("report", "params", "code", "field"), [
    ("summary", {"from": "2026-02-30"}, "invalid_date", "from"),
    ("summary", {"to": "24-11-2026"}, "invalid_date", "to"),
    ("summary", {"from": "2026-11-24T00:00:00Z"}, "invalid_date", "from"),
    ("summary", {"from": "1999-12-31"}, "invalid_date", "from"),
    ("summary", {"from": "2026-11-25", "to": "2026-11-24"}, "invalid_range", "from"),
    ("summary", {"from": "2020-01-01", "to": "2026-01-01"}, "range_too_long", "from"),
    ("summary", {"project_id": "../etc"}, "invalid_parameter", "project_id"),
    ("summary", {"project_id": "evil\n"}, "invalid_parameter", "project_id"),  # a full match, not `$`
    ("summary", {"template_id": "t-1\n"}, "invalid_parameter", "template_id"),
    ("summary", {"template_id": ""}, "invalid_parameter", "template_id"),
    ("summary", {"include_bots": "maybe"}, "invalid_parameter", "include_bots"),
    ("summary", {"date_from": "2026-11-24"}, "unknown_parameter", "date_from"),
    ("summary", {"dimension": "country"}, "unknown_parameter", "dimension"),
    ("breakdown", {}, "missing_parameter", "dimension"),
    ("breakdown", {"dimension": "city"}, "invalid_dimension", "dimension"),
    ("live", {"minutes": "0"}, "invalid_parameter", "minutes"),
    ("live", {"minutes": "1441"}, "invalid_parameter", "minutes"),
    ("live", {"from": "2026-11-24"}, "unknown_parameter", "from"),
    ("projects", {"include_archived": "maybe"}, "invalid_parameter", "include_archived"),
    ("projects", {"project_id": "p1"}, "unknown_parameter", "project_id"),
    ("summary", {"include_archived": "true"}, "unknown_parameter", "include_archived"),
])
def test_bad_parameters_are_400_with_code_and_field(reporting: Reporting, report: str, params: dict[str, str],
                                                     code: str, field: str) -> None:
    response = get(reporting, report, reporting.keys.acme, **params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]


def test_a_repeated_parameter_is_400(reporting: Reporting) -> None:
    response = reporting.client.get(f"{REPORTS}/summary?from=2026-11-24&from=2026-11-25",
                                    headers=bearer(reporting.keys.acme))
    assert response.status_code == 400 and response.json()["error"]["code"] == "repeated_parameter"


def test_the_key_is_checked_before_the_parameters(reporting: Reporting) -> None:
    assert reporting.client.get(f"{REPORTS}/summary?from=nonsense").status_code == 401


# -- OpenAPI -------------------------------------------------------------------------------------

def test_openapi_documents_every_report_and_parameter(reporting: Reporting) -> None:
    document = reporting.client.get("/analytics/v1/openapi.json").json()
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    for report, accepted in reports_api.REPORTS.items():
        get_item = document["paths"][f"{REPORTS}/{report}"]["get"]
        assert [param["name"] for param in get_item["parameters"]] == [param.name for param in accepted]
        assert all(param["description"] and param["schema"] for param in get_item["parameters"])
        assert set(get_item["responses"]) == {"200", "400", "401", "403", "404"}
        assert get_item["security"] == [{"apiKey": []}]

