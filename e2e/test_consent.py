"""Consent decides whether tracking code exists on the page at all."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from e2e._browsing import Browsing, wait_seen
from e2e._stack import Stack, has, types

pytestmark = pytest.mark.e2e

TRACKING_SCRIPT = "/sdk/percus-tracking.js"


def played_to_a_quarter(stack: Stack, browse: Browsing, **forwarding: str) -> Page:
    """The consent banner's page with `forwarding` on, its video played to 25 % before any decision."""
    page = browse.open(stack.page_url("consent-banner.html", stack.organization(), **forwarding))
    wait_seen(page, "player.ready")
    page.evaluate("Percus.play()")
    wait_seen(page, "video.progressed", percent=25)
    return page


def played_through_after(decision: str, stack: Stack, browse: Browsing, **forwarding: str) -> Page:
    """The consent banner's page with `forwarding` on, `decision` (accept, decline) taken, then its
    video played to the end."""
    page = browse.open(stack.page_url("consent-banner.html", stack.organization(), **forwarding))
    page.click(f"#{decision}")
    wait_seen(page, "player.ready")
    page.evaluate("Percus.play()")
    wait_seen(page, "video.completed")
    return page


def test_declined_consent_never_downloads_tracking_and_sends_only_the_decision(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    page = browse.open(stack.page_url("consent-banner.html", org))
    wait_seen(page, "player.ready")
    page.click("#decline")
    page.evaluate("Percus.play()")  # the viewer watches the whole video: none of it is tracked
    wait_seen(page, "video.completed")
    events = stack.wait_for(org, has("consent.declined"))
    sent = browse.posted_events(page, "/analytics/v1/events", {e["event_id"] for e in events})
    page.close()

    assert not browse.urls(TRACKING_SCRIPT)
    assert types(events) == ["consent.declined"]
    declined = events[0]
    assert declined["consent"] == {"tracking": False, "granted_at": None}
    assert declined["viewer_hash"] is None and declined["playback_id"] is None
    assert [event["event_type"] for event in sent] == ["consent.declined"]


def test_consent_granted_later_loads_tracking_then_and_tracks_from_there(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    page = browse.open(stack.page_url("consent-banner.html", org))
    wait_seen(page, "player.ready")
    page.evaluate("Percus.play()")
    wait_seen(page, "video.progressed", percent=25)
    assert not browse.urls(TRACKING_SCRIPT)  # playing, but no consent yet: no tracking code
    page.click("#accept")
    wait_seen(page, "session.started")
    assert len(browse.urls(TRACKING_SCRIPT)) == 1
    wait_seen(page, "video.completed")

    events = stack.wait_for(org, has("video.completed"))
    assert types(events)[:2] == ["consent.accepted", "session.started"]
    # What happened before the viewer accepted was never sent.
    assert "video.played" not in types(events)
    assert 25 not in [e["payload"]["percent"] for e in events if e["event_type"] == "video.progressed"]
    granted_at = events[0]["consent"]["granted_at"]
    assert granted_at and all(e["consent"] == {"tracking": True, "granted_at": granted_at} for e in events)
    assert all(e["viewer_hash"] for e in events[1:])


def test_a_player_error_without_consent_is_reported_without_viewer_identifiers(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    page = browse.open(stack.page_url("consent-banner.html", org, template="retired-template"))
    wait_seen(page, "video.errored", error_code="template_not_found")
    events = stack.wait_for(org, has("video.errored"))
    page.close()

    assert not browse.urls(TRACKING_SCRIPT)
    errored, = events
    assert errored["consent"]["tracking"] is False
    assert errored["viewer_hash"] is None and errored["playback_id"] is None
    assert errored["template_id"] == "retired-template"
    assert errored["payload"]["error_code"] == "template_not_found"


def test_ga_forwarding_waits_for_consent_and_pushes_nothing_once_declined(
        stack: Stack, browse: Browsing) -> None:
    page = played_to_a_quarter(stack, browse, ga="1")
    assert page.evaluate("window.dataLayer || []") == []  # no decision yet: nothing forwarded
    page.click("#decline")
    wait_seen(page, "video.completed")
    frame = page.frame_locator("iframe")
    frame.locator("button[data-cta-id=advisor]").click()
    wait_seen(page, "cta.clicked")
    assert page.evaluate("window.dataLayer || []") == []  # declined: nothing forwarded, ever


def test_ga_forwarding_starts_with_accept_consent(stack: Stack, browse: Browsing) -> None:
    page = played_to_a_quarter(stack, browse, ga="1")
    page.click("#accept")
    wait_seen(page, "video.completed")

    pushes = page.evaluate("dataLayer")
    assert {push["event"] for push in pushes} == {"video_engagement"}
    actions = [(push["event_action"], push.get("event_label")) for push in pushes]
    # What happened before the viewer accepted was not forwarded; what came after was.
    assert ("video.played", None) not in actions and ("video.progressed", "25%") not in actions
    assert ("video.progressed", "75%") in actions and actions[-1] == ("video.completed", "100%")


def test_adobe_forwarding_calls_the_pages_web_sdk_only_after_consent(stack: Stack, browse: Browsing) -> None:
    page = played_to_a_quarter(stack, browse, adobe="alloy")
    assert page.evaluate("alloyCalls") == []  # no decision yet: nothing forwarded
    page.click("#accept")
    wait_seen(page, "video.completed")
    page.frame_locator("iframe").locator("button[data-cta-id=advisor]").click()
    wait_seen(page, "cta.clicked")

    calls = page.evaluate("alloyCalls")
    assert {call[0] for call in calls} == {"sendEvent"}
    sent = [(call[1]["xdm"]["eventType"], call[1]["data"]["percus"]) for call in calls]
    assert ("percus.video.progressed", {"action": "video.progressed", "label": "25%"}) not in sent
    assert ("percus.video.completed", {"action": "video.completed", "label": "100%"}) in sent
    assert sent[-1] == ("percus.cta.clicked", {"action": "cta.clicked", "label": "Talk to an advisor"})
    assert all("viewer" not in str(call) and "session" not in str(call) for call in calls)  # no identifier


def test_adobe_forwarding_fills_the_configured_appmeasurement_variables(stack: Stack,
                                                                         browse: Browsing) -> None:
    page = played_through_after("accept", stack, browse, adobe="appmeasurement")

    calls = page.evaluate("tlCalls")
    assert calls[0] == {"args": [True, "o", "percus video.played"], "linkTrackVars": "eVar10,eVar11,events",
                        "linkTrackEvents": "event20", "events": "event20", "eVar10": "video.played",
                        "eVar11": None}  # no label: the previous one is not carried over
    assert calls[-1]["eVar10"] == "video.completed" and calls[-1]["eVar11"] == "100%"
    assert [call["eVar11"] for call in calls if call["eVar10"] == "video.progressed"] == ["25%", "50%", "75%"]


def test_adobe_forwarding_sends_nothing_after_a_decline(stack: Stack, browse: Browsing) -> None:
    page = played_through_after("decline", stack, browse, adobe="alloy")
    assert page.evaluate("alloyCalls") == []
