"""The organization's value policy, enforced at ingest for every client: what is queued of cta_value
and interaction_value under store, hash and drop (single events, batches and indiTrack posts)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from pipeline.backends import open_store
from pipeline.governance.registry import OrganizationRegistry
from pipeline.governance.value_policy import VALUE_POLICIES, ValuePolicy
from pipeline.governance.viewer_keys import load_viewer_keys
from tests.gateway._client import Gateway
from tests.gateway._events import event

# What a field CTA hands back: the viewer's simulated pension, longer than a stored name.
PENSION = json.dumps({"email": "ana.perez@example.cl", "pension_estimate": "UF 18,74", "age": 65,
                      "fund": "C"})
OTHER = json.dumps({"email": "eva.soto@example.cl", "pension_estimate": "UF 22,10", "age": 61})
GROUP_KEY = "acme-group-key"


@pytest.fixture
def registry(gateway: Gateway) -> OrganizationRegistry:
    registry = OrganizationRegistry(open_store(gateway.settings))
    registry.create("acme", legacy_group_keys=(GROUP_KEY,))
    return registry


def cta(value: str) -> dict[str, Any]:
    return event("cta.clicked", payload={"cta_id": "simulate", "cta_value": value})


def interaction(value: str) -> dict[str, Any]:
    return event("interaction.engaged", payload={"interaction_id": "form", "interaction_value": value})


def values(queued: list[dict[str, Any]]) -> list[str | None]:
    return [e["payload"].get("cta_value", e["payload"].get("interaction_value")) for e in queued]


def expected(gateway: Gateway, policy: ValuePolicy, *sent: str) -> list[str | None]:
    keys = load_viewer_keys({}, data_dir=gateway.settings.data_dir)
    stored = {"store": lambda value: value[:64], "hash": lambda value: keys.keyed_value(value[:64]),
              "drop": lambda value: None}[policy]
    return [stored(value) for value in sent]


@pytest.mark.parametrize("policy", VALUE_POLICIES)
def test_single_events_and_batches_are_queued_as_the_policy_says(
        gateway: Gateway, registry: OrganizationRegistry, policy: ValuePolicy,
        caplog: pytest.LogCaptureFixture) -> None:
    registry.update("acme", value_policy=policy)
    caplog.set_level(logging.DEBUG)
    assert gateway.post(cta(PENSION)).status_code == 202
    assert gateway.post(interaction(PENSION)).status_code == 202
    answer = gateway.post({"events": [cta(PENSION), cta(OTHER), interaction(OTHER), event("video.played")]})
    assert answer.json()["accepted"] == 4

    queued = gateway.queued()
    assert values(queued[:5]) == expected(gateway, policy, PENSION, PENSION, PENSION, OTHER, OTHER)
    if policy != "store":
        text = json.dumps(queued) + caplog.text
        assert "example.cl" not in text and "18,74" not in text
    if policy == "hash":  # the same value, the same id; distinct values stay distinct
        assert len(set(values(queued[:5]))) == 2


def test_the_policy_of_another_organization_does_not_apply(gateway: Gateway,
                                                           registry: OrganizationRegistry) -> None:
    registry.update("acme", value_policy="drop")
    assert gateway.post(cta(PENSION), token=gateway.token("globex")).status_code == 202
    assert values(gateway.queued()) == [PENSION[:64]]


@pytest.mark.parametrize("policy", VALUE_POLICIES)
def test_legacy_posts_are_queued_as_the_policy_says(gateway: Gateway, registry: OrganizationRegistry,
                                                    policy: ValuePolicy) -> None:
    registry.update("acme", value_policy=policy)
    common = {"trackerKey": "ivtk-1", "trackerGroupKey": GROUP_KEY, "projectCode": "pensions"}
    posts = [{"event": "onCTA", "ctaName": "simulate", "ctaValue": PENSION},
             {"event": "onInteraction", "interactionName": "form", "interactionValue": OTHER}]
    for post in posts:
        answer = gateway.client.post("/api/indiTrack", json={**post, **common})
        assert answer.status_code == 202 and answer.json()["accepted"] == 1, answer.text

    queued = gateway.queued()
    assert values(queued) == expected(gateway, policy, PENSION, OTHER)
    assert policy == "store" or "example.cl" not in json.dumps(queued)
