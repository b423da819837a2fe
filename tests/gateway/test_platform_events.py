"""POST /analytics/v1/platform-events: an admin key's integration events, answered like the events
endpoint (202 with accepted, duplicates, ignored and rejected; the API's error body otherwise)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from pipeline.backends import open_store
from pipeline.governance import audit
from pipeline.governance.registry import OrganizationRegistry
from pipeline.platform.dims import read_latest
from tests.gateway._client import Gateway

PATH = "/analytics/v1/platform-events"


def platform_event(type_: str, org: str = "acme", **fields: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "type": type_, "occurred_at": "2026-11-20T10:00:00.000Z",
            "organization_id": org, **fields}


@pytest.fixture
def registry(gateway: Gateway) -> OrganizationRegistry:
    return OrganizationRegistry(open_store(gateway.settings))


def post(gateway: Gateway, key: str, body: Any, content_type: str = "application/json") -> Any:
    return gateway.client.post(PATH, content=body if isinstance(body, bytes) else json.dumps(body).encode(),
                               headers={"Authorization": f"Bearer {key}", "Content-Type": content_type})


def test_an_admin_key_sends_a_batch_and_each_item_is_answered(gateway: Gateway,
                                                              registry: OrganizationRegistry) -> None:
    key = registry.create_admin_key()
    created = platform_event("OrganizationCreated", org="initech", name="Initech Seguros")
    events = [created, platform_event("ProjectCreated", org="initech", project_id="p1", name="Renewals"),
              platform_event("ProjectCreated", org="initech", project_id="p2"),  # no name
              platform_event("SomethingNew", org="initech")]
    answer = post(gateway, key, {"events": events})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"accepted": 2, "duplicates": 0, "ignored": 1, "rejected": [
        {"index": 2, "code": "invalid_field", "message": "name: Field required", "field": "name"}]}
    assert registry.require("initech") is not None
    assert [row["name"] for row in read_latest(registry.store, "projects", "initech")] == ["Renewals"]
    [made] = audit.list_records(registry.store, org="initech", action="org.created")
    assert made["actor"].startswith("platform-events (admin_key:")
    again = post(gateway, key, created)
    assert (again.status_code, again.json()["duplicates"]) == (202, 1)


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"{not json", 400, "malformed_json"), ([1, 2], 400, "invalid_body"),
    ({"events": []}, 400, "empty_batch"),
    ({"events": [{}] * 1001}, 413, "too_many_events"),
    ({"event_id": "x", "type": "ProjectCreated"}, 400, "invalid_field")])
def test_bad_bodies_get_the_api_error(gateway: Gateway, registry: OrganizationRegistry, body: Any,
                                      status: int, code: str) -> None:
    answer = post(gateway, registry.create_admin_key(), body)
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)


def test_only_an_admin_key_may_send(gateway: Gateway, registry: OrganizationRegistry) -> None:
    registry.create("acme")
    event = platform_event("ProjectCreated", project_id="p1", name="x")
    assert post(gateway, registry.create_api_key("acme"), event).status_code == 403
    assert post(gateway, "pka_unknown", event).status_code == 401
    assert gateway.client.post(PATH, json=event).status_code == 401
    assert post(gateway, registry.create_admin_key(), event, "text/plain").status_code == 415
    assert read_latest(registry.store, "projects", "acme") == []
