"""POST /analytics/v1/exports and the signed download: the CSV of one organization's filter, a URL
valid 24 hours (HMAC-signed locally, presigned on S3), and an audit record per export."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest

from gateway import exports_api
from pipeline.governance.registry import OrganizationRegistry
from pipeline.query.base import Source
from pipeline.reporting import exports, reports
from pipeline.reporting.exports import Export
from pipeline.reporting.selection import Selection
from pipeline.store.s3 import S3Store
from tests.gateway._reporting import Keys, Reporting, bearer, open_reporting
from tests.pipeline._sessions import ingest, known_sessions

EXPORTS = "/analytics/v1/exports"
D1, D2 = date(2026, 11, 24), date(2026, 11, 25)


@pytest.fixture(scope="module")
def reporting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reporting]:
    with open_reporting(tmp_path_factory.mktemp("exports-api")) as opened:
        yield opened


def create(reporting: Reporting, key: str, body: Any = None, **headers: str) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    return reporting.client.post(EXPORTS, content=content,
                                 headers={**bearer(key), "Content-Type": "application/json", **headers})


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def event_ids(reporting: Reporting, org: str, where: str) -> set[str]:
    days = reporting.engine.partition_days("curated", org)
    found = reporting.engine.query(f"SELECT event_id FROM curated WHERE {where}", org=org,
                                   sources=[Source("curated", tuple(days))])
    return {row["event_id"] for row in found}


def test_an_export_downloads_through_its_signed_url(reporting: Reporting) -> None:
    response = create(reporting, reporting.keys.acme,
                      {"project_id": "p1", "from": "2026-11-24", "to": "2026-11-25"})
    assert response.status_code == 201
    body = response.json()
    assert body["organization_id"] == "acme" and body["kind"] == "events"
    assert body["filters"] == {"project_id": "p1", "project_name": "Renewals", "template_id": None,
                               "template_name": None, "from": "2026-11-24", "to": "2026-11-25",
                               "include_bots": False}
    url = urlsplit(body["url"])
    assert url.path == f"{EXPORTS}/{body['export_id']}"
    query = parse_qs(url.query)
    expires = int(query["expires"][0])
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=24)).timestamp()) < 60
    assert body["expires_at"] == datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    download = reporting.client.get(body["url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in download.headers["content-disposition"]
    assert len(download.content) == body["bytes"]
    rows = rows_of(download.text)
    assert len(rows) == body["rows"]
    # The same rows as a query of the curated zone: p1, not bots, event time on the two days.
    assert {row["event_id"] for row in rows} == event_ids(
        reporting, "acme", "project_id = 'p1' AND NOT device_is_bot "
        "AND CAST(event_time AS DATE) BETWEEN DATE '2026-11-24' AND DATE '2026-11-25'")
    assert {row["organization_id"] for row in rows} == {"acme"}
    name = body["export_id"].split(".", 1)[1]
    assert reporting.store.get(f"exports/org=acme/{name}.csv") == download.content


def test_every_export_is_audited_without_the_key(reporting: Reporting) -> None:
    since = (reporting.now - timedelta(days=7)).date().isoformat()  # `to` left out: it defaults to today
    body = create(reporting, reporting.keys.acme, {"kind": "summary", "from": since}).json()
    records = [json.loads(reporting.store.get(key)) for key in reporting.store.list("audit/")]
    record, = [r for r in records if r["scope"].get("export_id") == body["export_id"]]
    key_id = reporting.keys.acme.split("_")[1]
    assert record["action"] == "export.created"
    assert record["actor"] == f"api_key:{key_id}"
    assert record["scope"] == {"organization_id": "acme", "export_id": body["export_id"]}
    assert record["details"] == {"kind": "summary", "project_id": None, "template_id": None,
                                 "from": since, "to": None, "include_bots": False,
                                 "rows": body["rows"], "bytes": body["bytes"],
                                 "object_key": f"exports/org=acme/{body['export_id'].split('.', 1)[1]}.csv"}
    assert reporting.keys.acme not in json.dumps(records)


def test_a_summary_export_has_one_row_per_day_with_the_report_numbers(reporting: Reporting) -> None:
    body = create(reporting, reporting.keys.acme,
                  {"kind": "summary", "from": "2026-11-23", "to": "2026-11-25"}).json()
    rows = rows_of(reporting.client.get(body["url"]).text)
    assert [row["date"] for row in rows] == ["2026-11-23", "2026-11-24", "2026-11-25"]
    for row in rows:
        day = date.fromisoformat(row["date"])
        expected = reports.summary(reporting.engine, "acme", Selection(date_from=day, date_to=day))
        assert row == {"date": row["date"], **{name: "" if value is None else str(value)
                                               for name, value in expected.items()}}


@pytest.mark.parametrize("change", ["sig", "expires", "export", "missing"])
def test_a_tampered_url_is_403(reporting: Reporting, change: str) -> None:
    acme = create(reporting, reporting.keys.acme, {"project_id": "p1"}).json()
    globex = create(reporting, reporting.keys.globex).json()
    url = urlsplit(acme["url"])
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    path = url.path
    if change == "sig":
        query["sig"] = ("A" if query["sig"][0] != "A" else "B") + query["sig"][1:]
    elif change == "expires":
        query["expires"] = str(int(query["expires"]) + 86400)
    elif change == "export":
        path = f"{EXPORTS}/{globex['export_id']}"  # acme's signature on globex's file
    else:
        del query["sig"]
    response = reporting.client.get(path, params=query)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "export_signature_invalid"


def test_an_expired_url_is_403(reporting: Reporting) -> None:
    made = create(reporting, reporting.keys.acme).json()
    key = exports.export_key(made["export_id"])
    yesterday = Export(made["export_id"], "acme", key, 0, 0,
                       datetime.now(UTC) - timedelta(hours=24, seconds=5))
    url = exports_api.download_url(exports_api.url_signer(reporting.settings.token_keys), reporting.store,
                                   yesterday, "http://testserver")
    response = reporting.client.get(url)
    assert response.status_code == 403 and response.json()["error"]["code"] == "export_url_expired"


def test_a_deleted_export_is_404(reporting: Reporting) -> None:
    made = create(reporting, reporting.keys.acme).json()
    reporting.store.delete(exports.export_key(made["export_id"]))
    response = reporting.client.get(made["url"])
    assert response.status_code == 404 and response.json()["error"]["code"] == "export_not_found"


def test_an_organization_key_exports_its_own_organization_only(reporting: Reporting) -> None:
    refused = create(reporting, reporting.keys.acme, {"organization_id": "globex"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "organization_forbidden"
    # globex's project p1 shares its id with acme's: acme's export of p1 holds none of globex's events.
    own = create(reporting, reporting.keys.acme, {"project_id": "p1", "include_bots": True}).json()
    rows = rows_of(reporting.client.get(own["url"]).text)
    assert {row["organization_id"] for row in rows} == {"acme"}
    assert not {row["event_id"] for row in rows} & event_ids(reporting, "globex", "TRUE")
    assert "globex" not in reporting.client.get(own["url"]).text


def test_an_admin_key_exports_the_organization_it_names(reporting: Reporting) -> None:
    assert create(reporting, reporting.keys.admin).json()["error"]["code"] == "organization_required"
    made = create(reporting, reporting.keys.admin, {"organization_id": "globex", "include_bots": True}).json()
    rows = rows_of(reporting.client.get(made["url"]).text)
    assert {row["event_id"] for row in rows} == event_ids(reporting, "globex", "TRUE")
    record, = [json.loads(reporting.store.get(key)) for key in reporting.store.list("audit/")
               if made["export_id"] in reporting.store.get(key).decode()]
    assert record["actor"] == f"admin_key:{reporting.keys.admin.split('_')[1]}"


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({"kind": "pdf"}, 400, "invalid_parameter", "kind"),
    ({"kind": ""}, 400, "invalid_parameter", "kind"),
    ({"from": "2026-11-31"}, 400, "invalid_date", "from"),
    ({"from": "2026-11-25", "to": "2026-11-24"}, 400, "invalid_range", "from"),
    ({"project_id": "a/b"}, 400, "invalid_parameter", "project_id"),
    ({"include_bots": "yes"}, 400, "invalid_parameter", "include_bots"),
    ({"columns": ["event_id"]}, 400, "unknown_field", "columns"),
    (["events"], 400, "invalid_body", None),
])
def test_bad_export_requests_are_400(reporting: Reporting, body: Any, status: int, code: str,
                                     field: str | None) -> None:
    response = create(reporting, reporting.keys.acme, body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"].get("field") == field


def test_malformed_and_mistyped_bodies(reporting: Reporting) -> None:
    malformed = reporting.client.post(EXPORTS, content=b"{", headers={**bearer(reporting.keys.acme),
                                                                       "Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_json"
    form = reporting.client.post(EXPORTS, content=b"kind=events", headers={
        **bearer(reporting.keys.acme), "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    assert reporting.client.post(EXPORTS, json={}).status_code == 401


@pytest.mark.aws
def test_on_s3_the_url_is_a_presigned_s3_url(aws: str, tmp_path: Path) -> None:
    boto3.client("s3").create_bucket(Bucket="percus-exports")
    store = S3Store("percus-exports", "data")
    sessions, duplicates = known_sessions()
    ingest(store, sessions, duplicates)
    registry = OrganizationRegistry(store)
    registry.create("acme")
    keys = Keys(registry.create_api_key("acme"), "", "")
    with open_reporting(tmp_path, store, keys, PERCUS_STORE="s3://percus-exports/data") as reporting:
        body = create(reporting, keys.acme, {"from": "2026-11-24", "to": "2026-11-25"}).json()
        assert body["url"].startswith(f"{aws}/percus-exports/data/exports/org%3Dacme/")
        assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in body["url"] and "X-Amz-Signature=" in body["url"]
        assert re.search(r"X-Amz-Expires=86(399|400)\b", body["url"])
        download = httpx.get(body["url"])
        assert download.status_code == 200
        rows = rows_of(download.text)
        assert len(rows) == body["rows"] > 0
        assert {row["organization_id"] for row in rows} == {"acme"}
        audit_keys = list(store.list("audit/"))
        assert any(body["export_id"] in store.get(key).decode() for key in audit_keys)
