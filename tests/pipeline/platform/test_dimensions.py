"""Integration events into dimension tables: each type, once by event_id, in occurred_at order
whatever the delivery order, unknown types kept and ignored, organization events applied and audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.governance import audit
from pipeline.governance.registry import OrganizationRegistry
from pipeline.platform.dims import read_history, read_latest
from pipeline.platform.handler import ACTOR, handle
from pipeline.store.base import Store

RECEIVED = datetime(2026, 11, 30, 12, tzinfo=UTC)


def platform_event(type_: str, at: str = "2026-11-20T10:00:00.000Z", org: str = "acme", **fields: Any
                   ) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "type": type_, "occurred_at": at, "organization_id": org, **fields}


@pytest.fixture
def registry(any_store: Store) -> OrganizationRegistry:
    return OrganizationRegistry(any_store, actor=ACTOR)


def test_each_type_lands_in_its_table(registry: OrganizationRegistry) -> None:
    events = [
        platform_event("ProjectCreated", project_id="spring-launch", name="Spring launch"),
        platform_event("TemplateActivated", project_id="spring-launch", template_id="t-1",
                       template_version="3", name="Pension projection"),
        platform_event("DistributionChannelPublished", project_id="spring-launch",
                       distribution_channel_id="ch-mail", kind="email", name="Newsletter"),
        platform_event("PublicVideoShareCreated", project_id="spring-launch",
                       distribution_channel_id="ch-mail", public_share_id="sh-1",
                       expires_at="2027-01-01T00:00:00Z"),
    ]
    outcome = handle(registry, events, RECEIVED)
    assert outcome.as_json() == {"accepted": 4, "duplicates": 0, "ignored": 0, "rejected": []}
    store = registry.store
    [project] = read_latest(store, "projects", "acme")
    assert (project["project_id"], project["name"], project["archived"]) == (
        "spring-launch", "Spring launch", False)
    [template] = read_latest(store, "templates", "acme")
    assert (template["entity_id"], template["template_version"], template["name"]) == (
        "spring-launch/t-1", "3", "Pension projection")
    [channel] = read_latest(store, "channels", "acme")
    assert (channel["kind"], channel["name"]) == ("email", "Newsletter")
    [share] = read_latest(store, "shares", "acme")
    assert (share["public_share_id"], share["expires_at"]) == ("sh-1", "2027-01-01T00:00:00.000Z")


def test_a_late_project_created_does_not_resurrect_an_archived_project(
        registry: OrganizationRegistry) -> None:
    created = platform_event("ProjectCreated", "2026-11-01T09:00:00.000Z", project_id="p1", name="Autumn")
    archived = platform_event("ProjectArchived", "2026-11-20T09:00:00.000Z", project_id="p1")
    handle(registry, [archived], RECEIVED)
    handle(registry, [created], RECEIVED)  # delivered late
    [project] = read_latest(registry.store, "projects", "acme")
    assert (project["name"], project["archived"], project["updated_at"]) == (
        "Autumn", True, "2026-11-20T09:00:00.000Z")
    again = platform_event("ProjectCreated", "2026-11-25T09:00:00.000Z", project_id="p1",
                           name="Autumn, again")
    handle(registry, [again], RECEIVED)  # made again after the archive: live again
    [project] = read_latest(registry.store, "projects", "acme")
    assert (project["name"], project["archived"]) == ("Autumn, again", False)


def test_a_redelivered_event_is_stored_once(registry: OrganizationRegistry) -> None:
    event = platform_event("ProjectCreated", project_id="p1", name="Autumn")
    assert handle(registry, [event, event], RECEIVED).as_json()["duplicates"] == 1
    assert handle(registry, [event], RECEIVED).as_json() == {
        "accepted": 0, "duplicates": 1, "ignored": 0, "rejected": []}
    assert len(read_history(registry.store, "projects", "acme")) == 1


def test_an_unknown_type_is_kept_and_ignored_and_a_bad_item_costs_only_itself(
        registry: OrganizationRegistry) -> None:
    items: list[Any] = [platform_event("CampaignRenamed", campaign_id="c1"),
                        platform_event("ProjectCreated", project_id="p1"),  # no name
                        "not an object",
                        platform_event("ProjectCreated", project_id="../etc", name="x"),
                        platform_event("ProjectCreated", project_id="p2", name="Winter")]
    outcome = handle(registry, items, RECEIVED)
    assert (outcome.accepted, outcome.ignored) == (1, 1)
    assert [(r["index"], r["code"], r["field"]) for r in outcome.rejected] == [
        (1, "invalid_field", "name"), (2, "invalid_field", None), (3, "invalid_field", "project_id")]
    [unknown] = read_history(registry.store, "unknown", "acme")
    assert (unknown["type"], unknown["entity_id"]) == ("CampaignRenamed", "CampaignRenamed")
    assert [row["project_id"] for row in read_latest(registry.store, "projects", "acme")] == ["p2"]


def test_organization_events_register_and_configure_it_audited(registry: OrganizationRegistry) -> None:
    early = platform_event("OrganizationSettingsChanged", "2026-11-10T00:00:00.000Z", org="globex",
                           settings={"retention_days": 90})
    handle(registry, [early], RECEIVED)
    assert registry.get("globex") is None  # not created yet: kept for when it is
    handle(registry, [platform_event("OrganizationCreated", "2026-11-01T00:00:00.000Z", org="globex",
                                     name="Globex Pensions")], RECEIVED)
    assert registry.require("globex").retention_days == 90
    newer = platform_event("OrganizationSettingsChanged", "2026-11-20T00:00:00.000Z", org="globex",
                           settings={"value_policy": "drop", "retention_days": None})
    older = platform_event("OrganizationSettingsChanged", "2026-11-15T00:00:00.000Z", org="globex",
                           settings={"value_policy": "hash"})
    handle(registry, [newer], RECEIVED)
    handle(registry, [older], RECEIVED)  # late: the newer change stands
    record = registry.require("globex")
    assert (record.value_policy, record.retention_days) == ("drop", None)
    actions = [(r["action"], r.get("actor")) for r in audit.list_records(registry.store, org="globex")]
    assert ("org.created", ACTOR) in actions and all(actor == ACTOR for _, actor in actions)
    assert len(actions) == 3  # created, retention 90, then value policy and retention together
    [latest] = read_latest(registry.store, "organizations", "globex")
    assert (latest["name"], latest["value_policy"], latest["retention_days"]) == (
        "Globex Pensions", "drop", None)
