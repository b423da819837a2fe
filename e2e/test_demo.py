"""GET /demo: the page a newcomer opens, everything served by the one gateway with its defaults."""

from __future__ import annotations

import pytest

from e2e._browsing import Browsing, wait_seen
from e2e._stack import Stack, types
from gateway.demo import DEMO_ORG

pytestmark = pytest.mark.e2e


def test_demo_page_plays_and_tracks_after_accepting(stack: Stack, browse: Browsing) -> None:
    page = browse.open(f"{stack.gateway}/demo")
    page.evaluate("window.seen = []; Percus.on('*', (e) => seen.push({type: e.type, payload: e.payload}))")
    page.click("#accept")
    wait_seen(page, "session.started")
    page.evaluate("Percus.play()")
    wait_seen(page, "video.completed")

    player, = browse.urls("/player?")
    assert player.startswith(f"{stack.gateway}/player?token=")  # the default player: the script's gateway
    tracking, = browse.urls("/sdk/percus-tracking.js")
    assert tracking.startswith(f"{stack.gateway}/sdk/percus-tracking.js?v=")
    response = next(r for r in browse.requests if r.url == tracking).response()
    assert response is not None and "immutable" in response.headers["cache-control"]
    posts = browse.posts("/events")
    assert posts and all(r.url.startswith(f"{stack.gateway}/analytics/v1/events?token=") for r in posts)
    session_id = page.evaluate("document.querySelector('[data-percus-embed]').percus.sessionId")
    events = stack.wait_for(DEMO_ORG, lambda events: "video.completed" in
                            types([e for e in events if e["session_id"] == session_id]))
    assert "consent.accepted" in types(events) and page.locator("#log li").count() > 5
