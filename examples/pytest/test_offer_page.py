"""Andes Pensiones' offer page against Percus Micro: the real SDK, player and gateway checks; no
sleeps, no network mocks (docs/testing-your-embed.md)."""

import os

import pytest
from playwright.sync_api import sync_playwright

OFFER_PAGE = """
<div id="cookies">We use cookies to measure how our videos are watched.
  <button onclick="Percus.acceptConsent(); this.parentNode.remove()">Accept cookies</button>
  <button onclick="Percus.declineConsent(); this.parentNode.remove()">Only necessary cookies</button>
</div>
<div data-percus-embed data-percus-share-token="TOKEN" data-percus-recipient-code="CRM-0042"
     data-percus-enable-tracking="true"></div>
<script src="MICRO/sdk/percus-embed-sdk.js"></script>
"""


@pytest.fixture
def page():
    """With pytest-playwright installed, leave this out: its `page` fixture is the same."""
    with sync_playwright() as playwright:
        # CHROMIUM_PATH: a browser already on the machine instead of Playwright's download.
        browser = playwright.chromium.launch(executable_path=os.environ.get("CHROMIUM_PATH"))
        yield browser.new_page()
        browser.close()


@pytest.fixture
def offer_page(page, percus_micro):
    """The page under test, hosted by Micro (yours may come from your own dev server instead)."""
    html = OFFER_PAGE.replace("TOKEN", percus_micro.token).replace("MICRO", percus_micro.url)
    page.goto(percus_micro.host_page(html, name="offer.html"))
    return page


def test_a_cta_click_is_reported_once_the_visitor_accepted_cookies(offer_page, percus_micro):
    offer_page.get_by_role("button", name="Accept cookies").click()
    offer_page.frame_locator("iframe").get_by_role("button", name="Simulate my pension").click()

    [click] = percus_micro.wait_for("cta.clicked", cta_name="Simulate my pension")
    assert click["consent"]["tracking"] is True
    assert click["payload"]["cta_value"] == "simulator"
    assert percus_micro.bad() == []


def test_nothing_but_the_decision_is_sent_when_the_visitor_declines(offer_page, percus_micro):
    offer_page.get_by_role("button", name="Only necessary cookies").click()
    offer_page.frame_locator("iframe").get_by_role("button", name="Simulate my pension").click()
    # Once the page has seen the click (replay: even if it came first), flush() settles when
    # everything the SDK queued has been answered: then Micro holds all it will get from this page.
    offer_page.evaluate("""new Promise((seen) => Percus.on("cta.clicked", seen, {replay: true}))
                           .then(() => Percus.flush())""")

    assert [event["event_type"] for event in percus_micro.good()] == ["consent.declined"]
    assert percus_micro.bad() == []
