"""A customer's QA engineer tests their own embed page against Percus Micro, as
docs/testing-your-embed.md shows: the page from Micro's host pages, the real SDK and player from
Micro, no sleeps, no mocks; Percus.flush() and replayed subscriptions make the page's side exact."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Route

from percus.testing import MicroClient

pytestmark = pytest.mark.e2e

# Andes Pensiones' offer page, as their developers wrote it: a cookie banner of their own that tells
# Percus the visitor's choice, and the embed with tracking on.
OFFER_PAGE = """
<header><h1>Andes Pensiones</h1></header>
<div id="cookies" role="dialog" aria-label="Cookies">
  We use cookies to measure how our videos are watched.
  <button onclick="Percus.acceptConsent(); this.parentNode.remove()">Accept cookies</button>
  <button onclick="Percus.declineConsent(); this.parentNode.remove()">Only necessary cookies</button>
</div>
<script>
  !function (w, P) { P = w.Percus = w.Percus || {q: []};
    "acceptConsent declineConsent on off play pause destroy".split(" ").forEach(function (m) {
      P[m] = P[m] || function () { P.q.push([m, arguments]); }; }); }(window);
</script>
<main>
  <p>Your pension, explained for you.</p>
  <div data-percus-embed data-percus-share-token="TOKEN" data-percus-recipient-code="CRM-0042"
       data-percus-enable-tracking="true"></div>
</main>
<script src="SDK" async></script>
"""

# "settled" if Percus.flush() settles within the given milliseconds, else "pending".
FLUSH_WITHIN = """(ms) => Promise.race([Percus.flush().then(() => "settled"),
  new Promise((pending) => setTimeout(() => pending("pending"), ms))])"""
# Resolves once the page has seen `type` (even before this call: replay) and the SDK delivered it.
SEEN_AND_FLUSHED = """(type) => new Promise((seen) => Percus.on(type, seen, {replay: true}))
  .then(() => Percus.flush()).then(() => true)"""


class Gate:
    """Holds the requests routed to it until open(), then lets them, and every later one, through."""

    def __init__(self) -> None:
        self.held: list[Route] | None = []

    def pass_or_hold(self, route: Route) -> None:
        if self.held is None:
            route.continue_()
        else:
            self.held.append(route)

    def open(self) -> None:
        held, self.held = self.held or [], None
        for route in held:
            route.continue_()


@pytest.fixture
def page(browser: Browser, percus_micro: MicroClient) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    sdk = f"{percus_micro.url}/sdk/percus-embed-sdk.js"
    html = OFFER_PAGE.replace("TOKEN", percus_micro.token).replace("SDK", sdk)
    page.goto(percus_micro.host_page(html, name="offer.html"))
    yield page
    context.close()


def test_a_cta_click_is_reported_once_the_visitor_accepted_cookies(page: Page,
                                                                    percus_micro: MicroClient) -> None:
    page.get_by_role("button", name="Accept cookies").click()
    percus_micro.wait_for("session.started")
    page.frame_locator("iframe").get_by_role("button", name="Simulate my pension").click()

    [click] = percus_micro.wait_for("cta.clicked", cta_name="Simulate my pension")
    assert click["consent"]["tracking"] is True and click["payload"]["cta_value"] == "simulator"
    assert click["viewer_hash"] and len(click["viewer_hash"]) == 64  # keyed by the gateway
    assert percus_micro.bad() == []


def test_flush_settles_once_the_gateway_has_answered(page: Page, percus_micro: MicroClient) -> None:
    gate = Gate()
    page.route("**/analytics/v1/events?*", gate.pass_or_hold)
    page.get_by_role("button", name="Accept cookies").click()
    page.frame_locator("iframe").get_by_role("button", name="Talk to an advisor").click()
    page.evaluate("(type) => new Promise((seen) => Percus.on(type, seen, {replay: true})).then(() => 0)",
                  "cta.clicked")
    # Not settled while a request is unanswered (a bound for "not yet", not a speed figure).
    assert page.evaluate(FLUSH_WITHIN, 500) == "pending"
    gate.open()
    assert page.evaluate(FLUSH_WITHIN, 15_000) == "settled"
    # No waiting: what the page had queued when flush() was called is at the gateway once it settled.
    clicks = percus_micro.good(event_type="cta.clicked")
    assert [click["payload"]["cta_name"] for click in clicks] == ["Talk to an advisor"]
    assert page.evaluate(FLUSH_WITHIN, 500) == "settled"  # nothing queued: at once


def test_replayed_subscriptions_see_what_happened_before_them(page: Page) -> None:
    page.get_by_role("button", name="Accept cookies").click()
    page.evaluate(SEEN_AND_FLUSHED, "session.started")
    seen = page.evaluate("""() => {
      const late = [], all = [];
      Percus.on("player.created", (e) => late.push(e.type));  // no replay: it happened already
      Percus.on("*", (e) => all.push(e.type), {replay: true});
      return {late, all};
    }""")
    assert seen["late"] == []
    assert seen["all"][:1] == ["player.created"]
    assert {"player.loaded", "player.ready", "consent.accepted", "session.started"} <= set(seen["all"])
    assert "media.time_updated" not in seen["all"]  # a stream of positions: never replayed


def test_nothing_but_the_decision_is_sent_when_the_visitor_declines(page: Page,
                                                                    percus_micro: MicroClient) -> None:
    page.get_by_role("button", name="Only necessary cookies").click()
    page.frame_locator("iframe").get_by_role("button", name="Simulate my pension").click()
    page.evaluate("Percus.play()")
    assert page.evaluate(SEEN_AND_FLUSHED, "video.progressed")  # the page saw it; the SDK sent what it had

    assert [e["event_type"] for e in percus_micro.good()] == ["consent.declined"]
    assert percus_micro.bad() == []  # nothing else was even sent
    assert page.evaluate("[...document.scripts].some((s) => s.src.includes('percus-tracking'))") is False
