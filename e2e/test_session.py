"""A viewing session end to end: host page → SDK → player iframe → SDK → gateway → store → reports."""

from __future__ import annotations

import hashlib

import pytest

from e2e._browsing import Browsing, player_frame, seen, wait_seen
from e2e._stack import PROXY_PATH, RECIPIENT, Stack, has, types
from pipeline.curated.compactor import compact
from pipeline.governance.registry import OrganizationRegistry
from pipeline.governance.viewer_keys import load_viewer_keys
from pipeline.query import open_engine
from pipeline.reporting import reports

pytestmark = pytest.mark.e2e


def test_consent_up_front_full_session_lands_compacts_and_reports(stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    salt = OrganizationRegistry(stack.store).create(org).salt
    page = browse.open(stack.page_url("consent-upfront.html", org))
    wait_seen(page, "player.ready")
    page.evaluate("Percus.play()")
    wait_seen(page, "video.progressed", percent=25)
    frame = player_frame(page, stack)
    frame.locator("button[data-cta-id=advisor]").click()
    frame.locator("button[data-interaction-value=yes]").click()
    wait_seen(page, "video.completed")

    events = stack.wait_for(org, has("video.completed", "cta.clicked", "interaction.engaged"))
    assert types(events)[:3] == ["consent.accepted", "session.started", "video.played"]
    progressed = [e["payload"]["percent"] for e in events if e["event_type"] == "video.progressed"]
    assert sorted(progressed) == [25, 50, 75]
    chapters = [(e["event_type"], e["payload"]["chapter_id"])
                for e in events if e["event_type"].startswith("chapter.")]
    assert chapters == [("chapter.entered", "intro"), ("chapter.exited", "intro"),
                        ("chapter.entered", "plan"), ("chapter.exited", "plan")]
    cta = next(e for e in events if e["event_type"] == "cta.clicked")["payload"]
    assert (cta["cta_id"], cta["cta_name"], cta["cta_value"]) == ("advisor", "Talk to an advisor", "advisor")
    assert "service" not in cta  # a player-only field, never stored
    completed = next(e for e in events if e["event_type"] == "video.completed")["payload"]
    assert completed["percent"] == 100 and 3500 <= completed["duration_ms"] <= 4500

    # The browser's hash, as the design defines it, keyed by the gateway before it was stored.
    client_hash = hashlib.sha256(f"{org}:{RECIPIENT}:{salt}".encode()).hexdigest()
    keyed = load_viewer_keys({}, data_dir=stack.settings.data_dir).keyed(client_hash)
    tracked = [e for e in events if e["event_type"] != "consent.accepted"]
    assert {e["viewer_hash"] for e in tracked} == {keyed}
    assert len({e["session_id"] for e in events}) == 1
    assert len({e["event_id"] for e in events}) == len(events)
    for event in events:
        assert event["organization_id"] == org and event["project_id"] == "spring-campaign"
        assert event["template_id"] == "welcome" and event["consent"]["tracking"] is True
        assert event["occurred_at"].endswith("Z") and event["sent_at"] >= event["occurred_at"]
    assert {e["template_version"] for e in tracked} == {"1"}  # from the player's ready message

    ga = page.evaluate("dataLayer")
    assert {(push["event"], push["event_category"]) for push in ga} == {("video_engagement", "Pension video")}
    assert [push["event_action"] for push in ga].count("video.progressed") == 3
    assert {"video.played", "video.completed", "cta.clicked"} <= {push["event_action"] for push in ga}

    compact(stack.store, orgs=[org])
    summary = reports.summary(open_engine(stack.settings, stack.store), org)
    assert {key: summary[key] for key in ("views", "unique_viewers", "plays", "completions", "cta_clicks",
                                          "interactions", "reach_75", "errors")} == {
        "views": 1, "unique_viewers": 1, "plays": 1, "completions": 1, "cta_clicks": 1,
        "interactions": 1, "reach_75": 1.0, "errors": 0}


def test_tab_closed_mid_video_still_delivers_video_incomplete(stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    page = browse.open(stack.page_url("consent-upfront.html", org))
    wait_seen(page, "player.ready")
    page.evaluate("Percus.play()")
    wait_seen(page, "video.progressed", percent=25)
    page.close()  # pagehide: the SDK sends what it holds with fetch(…, {keepalive: true})

    events = stack.wait_for(org, has("video.incomplete"))
    incomplete = next(e for e in events if e["event_type"] == "video.incomplete")
    assert 25 <= incomplete["payload"]["percent"] < 100
    assert 3500 <= incomplete["payload"]["duration_ms"] <= 4500
    assert incomplete["viewer_hash"] and "video.completed" not in types(events)
    assert types(events).count("video.incomplete") == 1


def test_tracking_url_global_routes_every_event_through_a_first_party_proxy(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    page = browse.open(stack.page_url("first-party-proxy.html", org))
    wait_seen(page, "player.ready")
    page.evaluate("Percus.play()")
    wait_seen(page, "video.completed")

    events = stack.wait_for(org, has("video.completed"))
    assert types(events)[:2] == ["consent.accepted", "session.started"]
    posts = [request.url for request in browse.requests if request.method == "POST"]
    assert posts and all(url.startswith(f"{stack.host}{PROXY_PATH}/events?token=") for url in posts)
    assert not browse.urls(stack.dead)  # the attribute's URL ranks below window.percusTrackingURL


def test_destroying_the_player_mid_video_reports_video_incomplete(stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    page = browse.open(stack.page_url("consent-upfront.html", org))
    wait_seen(page, "player.ready")
    page.evaluate("Percus.play()")
    wait_seen(page, "video.progressed", percent=25)
    page.evaluate("Percus.destroy()")
    assert page.locator("iframe").count() == 0

    events = stack.wait_for(org, has("video.incomplete"))
    assert 25 <= next(e for e in events if e["event_type"] == "video.incomplete")["payload"]["percent"] < 100
    assert [e["type"] for e in seen(page)][-1] == "player.destroyed"
