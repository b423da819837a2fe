"""POST /analytics/v1/outcomes and /analytics/v1/audiences/{name}: keyed on arrival, idempotent, one bad
item never costs the others, and the client-side viewer hash reaches no stored byte, log or audit."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.middleware.rate_limit import RateLimits
from pipeline.config import load_settings
from pipeline.governance import audit
from pipeline.governance.registry import OrganizationRegistry
from pipeline.governance.viewer_keys import ViewerKeys
from pipeline.query.base import Source
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.queue.local import LocalQueue
from pipeline.store.local import LocalStore

OUTCOMES = "/analytics/v1/outcomes"
VIEWER_KEYS = "v1:outcomes-viewer-key"


def client_hash(org: str, code: str, salt: str = "salt") -> str:
    """As the SDK computes it."""
    return hashlib.sha256(f"{org}:{code}:{salt}".encode()).hexdigest()


@dataclass
class Api:
    client: TestClient
    store: LocalStore
    root: Path
    acme: str
    globex: str
    admin: str
    keys: ViewerKeys

    def post(self, path: str, body: Any, key: str | None = None, **params: str) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return self.client.post(path, json=body, headers=headers, params=params)

    def rows(self, table: str, org: str = "acme") -> list[dict[str, Any]]:
        engine = DuckDbEngine(self.store)
        try:
            days = tuple(engine.partition_days(table, org))
            return engine.query(f"SELECT * FROM {table} ORDER BY viewer_hash", org=org,
                                sources=[Source(table, days)])
        finally:
            engine.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    settings = load_settings({"PERCUS_DATA_DIR": str(tmp_path), "PERCUS_TOKEN_KEYS": "k1:outcomes-tokens"})
    store = LocalStore(tmp_path / "bucket")
    registry = OrganizationRegistry(store)
    for org in ("acme", "globex"):
        registry.create(org)
    keys = ViewerKeys.parse(VIEWER_KEYS)
    queue = LocalQueue(tmp_path / "queue")
    try:
        app = create_app(settings, queue, store=store, rate_limits=RateLimits(), viewer_keys=keys)
        with TestClient(app) as client:
            yield Api(client, store, tmp_path, registry.create_api_key("acme"),
                      registry.create_api_key("globex"), registry.create_admin_key(), keys)
    finally:
        queue.close()


def outcome(code: str, *, days_ago: float = 1, name: str = "policy_renewed", **extra: Any) -> dict[str, Any]:
    return {"outcome_id": str(uuid.uuid4()), "viewer_hash": client_hash("acme", code), "name": name,
            "occurred_at": (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(), **extra}


def test_outcomes_are_stored_keyed_and_a_repost_is_a_duplicate(api: Api) -> None:
    batch = [outcome("R-1", value="120.50", currency="EUR"), outcome("R-2", days_ago=3), outcome("R-3")]
    first = api.post(OUTCOMES, {"outcomes": batch}, api.acme)
    assert first.status_code == 202
    assert first.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    again = api.post(OUTCOMES, {"outcomes": batch}, api.acme)
    assert again.json() == {"accepted": 0, "duplicates": 3, "rejected": []}
    single = api.post(OUTCOMES, batch[0], api.acme)
    assert (single.status_code, single.json()) == (202, {"accepted": 0, "duplicates": 1, "rejected": []})

    rows = api.rows("outcomes")
    assert sorted(row["outcome_id"] for row in rows) == sorted(item["outcome_id"] for item in batch)
    keyed = {api.keys.keyed(client_hash("acme", code)) for code in ("R-1", "R-2", "R-3")}
    assert {row["viewer_hash"] for row in rows} == keyed
    paid = next(row for row in rows if row["currency"] == "EUR")
    assert str(paid["value"]) == "120.5000"
    assert len(api.rows("outcomes", "globex")) == 0


def test_one_bad_outcome_never_costs_the_others(api: Api) -> None:
    good, bad_hash, no_currency = outcome("R-1"), outcome("R-2"), outcome("R-3", value=10)
    bad_hash["viewer_hash"] = "not-a-hash"
    future = outcome("R-4", days_ago=-2)
    response = api.post(OUTCOMES, {"outcomes": [good, bad_hash, no_currency, "junk", future]}, api.acme)
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 1
    refused = [(item["index"], item["error"]["code"], item["error"].get("field"))
               for item in body["rejected"]]
    assert refused == [
        (1, "invalid_field", "viewer_hash"), (2, "missing_field", "currency"), (3, "invalid_outcome", None),
        (4, "time_out_of_range", "occurred_at")]
    assert body["rejected"][0]["outcome_id"] == bad_hash["outcome_id"]
    assert "not-a-hash" not in response.text


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"outcomes": []}, 400, "empty_batch"),
    ({"outcomes": {}}, 400, "invalid_batch"),
    ({"outcomes": [{}] * 1001}, 413, "too_many_outcomes"),
    ({"name": "x"}, 400, "missing_field"),
    ([1, 2], 400, "invalid_outcome"),
])
def test_a_bad_request_is_a_clear_error(api: Api, body: Any, status: int, code: str) -> None:
    response = api.post(OUTCOMES, body, api.acme)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_keys_content_type_and_json_are_checked(api: Api) -> None:
    assert api.post(OUTCOMES, outcome("R-1")).json()["error"]["code"] == "api_key_missing"
    assert api.post(OUTCOMES, outcome("R-1"), "pk_nope").status_code == 401
    other = api.post(OUTCOMES, outcome("R-1"), api.globex, organization_id="acme")
    assert (other.status_code, other.json()["error"]["code"]) == (403, "organization_forbidden")
    assert api.post(OUTCOMES, outcome("R-1"), api.admin).json()["error"]["code"] == "organization_required"
    assert api.post(OUTCOMES, outcome("R-1"), api.admin, organization_id="acme").status_code == 202
    typo = api.post(OUTCOMES, outcome("R-2"), api.acme, since="x")
    assert typo.json()["error"]["code"] == "unknown_parameter"
    text = api.client.post(OUTCOMES, content=b"{}", headers={"Authorization": f"Bearer {api.acme}",
                                                            "Content-Type": "text/plain"})
    assert text.status_code == 415
    broken = api.client.post(OUTCOMES, content=b"{", headers={"Authorization": f"Bearer {api.acme}",
                                                              "Content-Type": "application/json"})
    assert (broken.status_code, broken.json()["error"]["code"]) == (400, "malformed_json")
    # globex's own post lands in globex only.
    assert api.post(OUTCOMES, outcome("R-9"), api.globex).status_code == 202
    assert len(api.rows("outcomes", "globex")) == 1 and len(api.rows("outcomes", "acme")) == 1


def test_an_audience_grows_idempotently(api: Api) -> None:
    path = "/analytics/v1/audiences/renewal-letters"
    hashes = [client_hash("acme", f"R-{n}") for n in range(5)]
    first = api.post(path, {"viewer_hashes": [*hashes[:3], "zz", hashes[0].upper()]}, api.acme)
    assert first.status_code == 202
    assert first.json() == {"accepted": 3, "duplicates": 1, "rejected": [
        {"index": 3, "error": {"code": "invalid_field", "field": "viewer_hashes.3",
                               "message": "a viewer hash is 64 hexadecimal characters (the SDK's SHA-256)"}}]}
    second = api.post(path, {"viewer_hashes": hashes}, api.acme)
    assert second.json() == {"accepted": 2, "duplicates": 3, "rejected": []}
    rows = api.rows("audiences")
    assert sorted(row["viewer_hash"] for row in rows) == sorted(api.keys.keyed(value) for value in hashes)
    assert {row["audience"] for row in rows} == {"renewal-letters"}
    bad_name = api.post("/analytics/v1/audiences/bad name", {"viewer_hashes": hashes}, api.acme)
    assert bad_name.status_code == 400
    assert api.post(path, {"hashes": hashes}, api.acme).json()["error"]["code"] == "missing_field"
    too_many = api.post(path, {"viewer_hashes": [hashes[0]] * 10_001}, api.acme)
    assert (too_many.status_code, too_many.json()["error"]["code"]) == (413, "too_many_hashes")
    many = [client_hash("acme", f"B-{n}") for n in range(10_000)]
    full = api.post(path, {"viewer_hashes": many}, api.acme)
    assert full.json()["accepted"] == 10_000  # about 670 KB: over the default body limit, within its own


def test_each_request_is_audited_by_count(api: Api) -> None:
    api.post(OUTCOMES, {"outcomes": [outcome("R-1"), outcome("R-2")]}, api.acme)
    api.post("/analytics/v1/audiences/letters", {"viewer_hashes": [client_hash("acme", "R-1")]}, api.acme)
    received, added = list(audit.list_records(api.store, org="acme", action="outcomes")), \
        list(audit.list_records(api.store, org="acme", action="audience"))
    assert [record["details"]["accepted"] for record in received] == [2]
    assert received[0]["actor"].startswith("api_key:")
    assert added[0]["scope"] == {"organization_id": "acme", "audience": "letters"}


def test_the_client_side_hash_reaches_no_stored_byte_log_or_audit(api: Api, caplog: pytest.LogCaptureFixture
                                                                  ) -> None:
    caplog.set_level(logging.DEBUG)
    codes = [f"RECIPIENT-{n}" for n in range(4)]
    sent = [client_hash("acme", code) for code in codes]
    batch = [outcome(code, value="9.99", currency="CLP") for code in codes]
    assert api.post(OUTCOMES, {"outcomes": batch}, api.acme).json()["accepted"] == 4
    bad = dict(batch[0], currency="eur", outcome_id=str(uuid.uuid4()))
    assert api.post(OUTCOMES, {"outcomes": [bad]}, api.acme).json()["rejected"]
    assert api.post("/analytics/v1/audiences/letters", {"viewer_hashes": sent}, api.acme).status_code == 202
    assert api.post(OUTCOMES, bad, api.acme).status_code == 400

    stored = b"".join(path.read_bytes() for path in api.root.rglob("*") if path.is_file())
    audits = "".join(str(record) for record in audit.list_records(api.store))
    keyed = [api.keys.keyed(value) for value in sent]
    assert all(value.encode() in stored for value in keyed)  # the scan is not vacuous
    for value in sent:
        for form in (value, value.upper()):
            assert form.encode() not in stored
            assert form not in caplog.text
            assert form not in audits
