"""The transport under a failing gateway: retries that end in exactly-once, and a stop that sticks."""

from __future__ import annotations

from collections import Counter

import pytest

from e2e._browsing import Browsing, wait_seen
from e2e._stack import Stack, has, types
from pipeline.curated.compactor import compact

pytestmark = pytest.mark.e2e


def test_gateway_503_twice_then_recovering_delivers_every_event_exactly_once(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    stack.queue.fail_next(2)  # the gateway's queue refuses twice: the gateway answers 503 + Retry-After
    browse.failing_requests_expected = True
    page = browse.open(stack.page_url("consent-upfront.html", org))
    wait_seen(page, "player.ready")
    page.evaluate("Percus.play()")
    wait_seen(page, "video.completed")

    events = stack.wait_for(org, has("video.completed"))
    sent = Counter(e["event_id"] for e in browse.posted_events(page, "/analytics/v1/events",
                                                                {e["event_id"] for e in events}))
    posts = browse.posts("/analytics/v1/events")
    statuses = [request.response().status for request in posts]
    assert statuses[:3] == [503, 503, 202] and set(statuses[2:]) == {202}
    # The 503 said Retry-After: 2; the SDK waited at least that long (a lower bound: never flaky).
    assert posts[1].timing["startTime"] - posts[0].timing["startTime"] >= 1990
    retried = [event_id for event_id, count in sent.items() if count == 3]
    assert retried, "the refused events were sent again"
    # Each event once: the gateway enqueued each id once, and the compactor keeps one row per id.
    assert sorted(sent) == sorted(event["event_id"] for event in events)
    assert Counter(types(events))["video.progressed"] == 3
    compact(stack.store, orgs=[org])


def test_unreachable_gateway_stops_after_five_consecutive_failures(stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    browse.failing_requests_expected = True
    page = browse.open(stack.page_url("consent-upfront.html", org, tracking_url=f"{stack.dead}/analytics/v1"))
    wait_seen(page, "player.ready")
    page.evaluate("Percus.play()")
    wait_seen(page, "video.completed")  # a whole viewing's worth of events to send, after the stop
    # A request the page makes after all of that: the browser reports requests in order, so once
    # this one is seen, any request the SDK made before it has been seen too.
    page.evaluate("fetch('/sentinel')")
    page.wait_for_event("requestfinished", lambda request: request.url.endswith("/sentinel"))

    attempts = browse.urls(stack.dead)
    assert len(attempts) == 5
    assert stack.events(org) == []
