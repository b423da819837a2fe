"""The one-src swap on pages written the way the field writes them (fixtures/individeo/field/, from
INDIVIDEO-FIELD-NOTES.md): what a migrating customer needs of each pattern.

Every page records what its own handlers saw in `window.calls`; the `browse` fixture already checks
that no script threw or logged an error and that no request carried the recipient code.
"""

from __future__ import annotations

import json

import pytest
from playwright._impl._sync_base import EventContextManager
from playwright.sync_api import ConsoleMessage, Locator, Page, expect

from e2e._browsing import Browsing
from e2e._individeo import assert_stored_canonically, calls, names, register, wait_call, warnings
from e2e._stack import Stack, has, types
from pipeline.governance.registry import OrganizationRegistry

pytestmark = pytest.mark.e2e

TRACKING_SCRIPT = "/sdk/percus-tracking.js"
PENSION = {"first_name": "Ana", "pension_estimate": "UF 18,74", "retirement_age": 65}


def greeting(page: Page) -> Locator:
    return page.frame_locator("iframe").locator("#greeting")


def warning(page: Page, text: str) -> EventContextManager[ConsoleMessage]:
    """Wait, around what the block does, for the compat script's console warning `text`."""
    return page.expect_console_message(lambda message: message.text == f"Percus: {text}")


def test_on_ready_calling_init_individeo_with_auto_init_on_personalizes_the_player(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    warned = warnings(browse)
    page = browse.open(stack.page_url("insurer-policy.html", org, code=register(stack, org)))
    wait_call(page, "on-ready")
    expect(greeting(page)).to_have_text("Hello Ana!")  # the data on-ready handed to initIndivideo
    expect(page.locator("#videoHost")).to_be_visible()
    page.evaluate("BluePlayer.current.play()")
    wait_call(page, "ONPLAYCOMPLETE")
    page.frame_locator("iframe").locator("button[data-cta-id=advisor]").click()
    wait_call(page, "ONMEDIACTA")

    assert [(c["name"], c.get("current")) for c in calls(page)] == [
        ("on-ready", True), ("ONREADY", None), ("ONPLAY", None), ("ONFIRSTQUARTILECOMPLETE", None),
        ("ONPLAYCOMPLETE", None), ("ONMEDIACTA", None)]
    assert calls(page)[-1]["ctaName"] == "Talk to an advisor"
    assert page.evaluate("onPolicyVideoReady") is False and page.locator("iframe").count() == 1
    events = stack.wait_for(org, has("video.completed", "cta.clicked"))
    assert types(events)[:3] == ["consent.accepted", "session.started", "video.played"]
    assert_stored_canonically(events, org)
    assert "019876767" not in json.dumps(events)  # personalization reaches the player only
    assert warned == []


def test_data_the_page_awaited_after_on_ready_personalizes_the_player_until_playback_starts(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    page = browse.open(stack.page_url("pension-component.html", org, code=register(stack, org)))
    wait_call(page, "on-ready")
    expect(greeting(page)).to_be_hidden()  # the player started without data: the SDK's init
    page.evaluate("(pension) => answerPensionApi(pension)", PENSION)
    expect(greeting(page)).to_have_text("Hello Ana!")

    # Not applied, and said so: a second call, malformed data.
    with warning(page, "initIndivideo(data) ignored: already personalized"):
        page.evaluate("BluePlayer.current.initIndivideo({first_name: 'Eva'})")
    with warning(page, "initIndivideo(data) ignored: malformed data"):
        page.evaluate("BluePlayer.current.initIndivideo('first_name=Eva')")
    page.evaluate("BluePlayer.current.play()")
    wait_call(page, "ONPLAYCOMPLETE")
    expect(greeting(page)).to_have_text("Hello Ana!")

    assert names(page, {"on-ready", "data", "ONPLAY", "ONPLAYCOMPLETE"}) == [
        "on-ready", "data", "ONPLAY", "ONPLAYCOMPLETE"]
    assert calls(page)[0]["current"] is True
    events = stack.wait_for(org, has("video.completed"))
    assert types(events)[:3] == ["consent.accepted", "session.started", "video.played"]
    assert_stored_canonically(events, org)
    posted = "".join(request.post_data or "" for request in browse.requests)
    assert PENSION["pension_estimate"] not in posted and PENSION["pension_estimate"] not in json.dumps(events)


def test_data_that_arrives_once_playback_started_is_a_warning_not_a_silent_drop(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    page = browse.open(stack.page_url("pension-component.html", org, code=register(stack, org)))
    wait_call(page, "on-ready")
    page.evaluate("BluePlayer.current.play()")
    wait_call(page, "ONPLAY")
    with warning(page, "initIndivideo(data) ignored: playback started"):
        page.evaluate("(pension) => answerPensionApi(pension)", PENSION)
    expect(greeting(page)).to_be_hidden()
    assert names(page, {"on-ready", "data"}) == ["on-ready", "data"]



def test_environments_as_customers_write_them_on_a_page_of_three_players(
        stack: Stack, browse: Browsing) -> None:
    """uat (Individeo's documented testing value) is STAGING, in any case and under the deprecated
    data-bp-env, without a warning; each block's tag becomes a player of its own."""
    org = stack.organization()
    warned = warnings(browse)
    page = browse.open(stack.page_url("document-blocks.html", org, code=register(stack, org)))
    for block, name in enumerate(("Ana", "Luis", "Eva"), 1):
        player = page.frame_locator(f"section:nth-of-type({block}) iframe")
        expect(player.locator("#greeting")).to_have_text(f"Hello {name}!")

    assert page.evaluate("[...document.querySelectorAll('section > div')].map((d) => d.percus.settings"
                         ".environment)") == ["STAGING", "STAGING", "DEV"]
    assert page.locator("iframe").count() == 3
    events = stack.wait_for(org, lambda events: types(events).count("session.started") == 3)
    assert_stored_canonically(events, org)
    assert len({event["session_id"] for event in events}) == 3
    assert warned == []


@pytest.mark.parametrize("order", ["insert-first", "copy-first"])
def test_a_tag_inserted_with_jquery_becomes_one_player_without_a_warning(
        stack: Stack, browse: Browsing, order: str) -> None:
    """jQuery's .append inserts the tag inert and runs a bare copy of the script (no attributes):
    insert-first is jQuery's own order; copy-first, the copy run before the tag is in the page, too."""
    org = stack.organization()
    warned = warnings(browse)
    page = browse.open(stack.page_url("jquery-slot.html", org, code=register(stack, org), order=order))
    wait_call(page, "on-ready")
    expect(greeting(page)).to_have_text("Hello Ana!")
    page.evaluate("BluePlayer.current.play()")
    wait_call(page, "ONPLAYCOMPLETE")  # seconds after the copy ran: a second player would be there by now

    assert page.locator("iframe").count() == 1 and page.locator("#slot iframe").count() == 1
    assert calls(page) == [{"name": "on-ready", "current": True}, {"name": "ONPLAYCOMPLETE"}]
    events = stack.wait_for(org, has("video.completed"))
    assert types(events)[:3] == ["consent.accepted", "session.started", "video.played"]
    assert_stored_canonically(events, org)
    assert len({event["session_id"] for event in events}) == 1
    assert warned == []


def test_smart_embed_modal_opens_the_player_in_an_accessible_dialog_and_closing_it_destroys_it(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    warned = warnings(browse)
    page = browse.open(stack.page_url("modal-launcher.html", org, code=register(stack, org)))
    watch = page.get_by_role("button", name="Ver mi video")
    dialog = page.get_by_role("dialog", name="Video")
    for opened, close in enumerate(("Escape", "button", "percusModal.close()"), 1):
        watch.click()
        expect(dialog).to_be_visible()
        expect(dialog).to_have_attribute("aria-modal", "true")
        assert dialog.evaluate("(d) => d.matches(':modal')")  # the page behind it is inert
        expect(page.get_by_role("button", name="Close")).to_be_focused()
        wait_call(page, "on-ready", opened)
        expect(dialog.frame_locator("iframe").locator("#greeting")).to_have_text("Hello Ana!")
        page.evaluate("BluePlayer.current.play()")
        wait_call(page, "ONPLAY", opened)
        if close == "Escape":
            page.keyboard.press("Escape")
        elif close == "button":
            page.get_by_role("button", name="Close").click()
        else:
            page.evaluate(close)
        wait_call(page, "ONDESTROY", opened)
        expect(dialog).to_have_count(0)
        expect(watch).to_be_focused()  # focus is back where it was
        assert page.locator("iframe").count() == 0 and page.evaluate("BluePlayer.current") is None

    assert [c["name"] for c in calls(page)] == ["on-ready", "ONPLAY", "ONDESTROY"] * 3
    assert all(c["current"] for c in calls(page) if c["name"] == "on-ready")
    assert page.evaluate("smartEmbedModal === percusModal")
    events = stack.wait_for(org, lambda events: types(events).count("video.incomplete") == 3)
    assert_stored_canonically(events, org)
    sessions: dict[str, list[str]] = {}
    for event in events:
        sessions.setdefault(event["session_id"], []).append(event["event_type"])
    assert [kinds[:3] + kinds[-1:] for kinds in sessions.values()] == [
        ["consent.accepted", "session.started", "video.played", "video.incomplete"]] * 3
    assert warned == []


def test_under_the_drop_policy_a_cta_value_reaches_the_page_and_never_the_wire(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    code = register(stack, org)
    OrganizationRegistry(stack.store).update(org, value_policy="drop")
    page = browse.open(stack.page_url("pension-simulator.html", org, code=code))
    wait_call(page, "on-ready")
    simulated = {**PENSION, "email": "ana.perez@example.cl", "monthly_pension_clp": 612345,
                 "retirement_age": 65}
    value = json.dumps(simulated)
    assert len(value) > 64
    # The real player frame posts it, as a player whose CTA computed the value.
    player = next(frame for frame in page.frames if "/player?" in frame.url)
    player.evaluate("""([value, host]) => parent.postMessage({percus: 1, type: "cta.clicked", payload: {
        cta_id: "simulaTuPensionBtn", cta_name: "simulaTuPensionBtn", cta_value: value, position_ms: 0}},
        host)""", [value, stack.host])
    wait_call(page, "simulated")

    assert calls(page)[-1]["pension"] == simulated  # the page's own handler got all of it
    events = stack.wait_for(org, has("cta.clicked"))
    cta = next(event for event in events if event["event_type"] == "cta.clicked")
    assert cta["payload"]["cta_id"] == "simulaTuPensionBtn" and cta["payload"]["cta_value"] is None
    sent = browse.posted_events(page, "/analytics/v1/events", {cta["event_id"]})
    assert "cta_value" not in next(e for e in sent if e["event_id"] == cta["event_id"])["payload"]
    wire = "".join(request.post_data or "" for request in browse.requests) + "".join(browse.urls(""))
    assert "ana.perez" not in wire and "612345" not in wire
    assert "ana.perez" not in json.dumps(events)


def test_a_page_silent_on_tracking_is_tracked_as_the_attachment_was_registered(
        stack: Stack, browse: Browsing) -> None:
    """`percus legacy register --tracking --no-consent-required`: what Individeo's account configured."""
    org = stack.organization()
    warned = warnings(browse)
    code = register(stack, org, tracking=True, consent_required=False)
    page = browse.open(stack.page_url("savings-statement.html", org, code=code))
    wait_call(page, "on-ready")
    page.evaluate("BluePlayer.current.play()")
    wait_call(page, "ONPLAYCOMPLETE")

    assert statement_settings(page) == {"enableTracking": True, "consentRequired": False}
    events = stack.wait_for(org, has("session.started", "video.completed"))
    assert types(events)[:2] == ["session.started", "video.played"]  # no consent was asked for
    assert_stored_canonically(events, org)
    assert len(browse.urls(TRACKING_SCRIPT)) == 1
    assert warned == []


def test_a_tracking_attribute_on_the_page_wins_over_the_attachments_default(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    code = register(stack, org, tracking=True, consent_required=False)
    page = browse.open(stack.page_url("savings-statement.html", org, code=code, tracking="false"))
    wait_call(page, "on-ready")
    page.evaluate("BluePlayer.current.play()")
    wait_call(page, "ONPLAYCOMPLETE")  # with tracking, the module and the first events left long before

    # The page said nothing of consent: that default still applies.
    assert statement_settings(page) == {"enableTracking": False, "consentRequired": False}
    assert page.evaluate("window.percusTracking") is None
    assert not browse.urls(TRACKING_SCRIPT) and not browse.posts("/analytics/v1/")
    assert stack.events(org) == []


def statement_settings(page: Page) -> dict[str, bool]:
    """The tracking and consent settings of savings-statement.html's player (the tag's next sibling)."""
    result: dict[str, bool] = page.evaluate("""() => {
        const {enableTracking, consentRequired} = document.querySelector("script[data-iv-on-ready]")
            .nextElementSibling.percus.settings;
        return {enableTracking, consentRequired};
    }""")
    return result
