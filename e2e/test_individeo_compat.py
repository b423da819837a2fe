"""Pages written for Individeo's smartEmbed.js, with only the script's src swapped for the compat script.

Each page is one of fixtures/individeo/pages, written the way field integrations are; it records
what its own handlers saw in `window.calls`. The attachment code is registered to a fresh
organization, so what the gateway stored is told apart from every other test's.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from e2e._browsing import Browsing
from e2e._individeo import PROJECT, assert_stored_canonically, calls, names, register, wait_call, warnings
from e2e._stack import PROXY_PATH, RECIPIENT, Stack, has, types
from js.attributes import TRACKING_ATTRIBUTES
from translator.embed_attributes import parse_value, percus_attribute
from translator.individeo_attributes import resolve_attributes

pytestmark = pytest.mark.e2e

TRACKING_SCRIPT = "/sdk/percus-tracking.js"
# Conflicting prefixes and synonyms, sloppy values, a bad JSON and an unknown name.
AWKWARD = {
    "data-iv-enable-tracking": "false", "data-bp-enable-tracking": "true",
    "data-iv-embed-smart-tracking": "yes",
    "data-bp-consent-accepted": " Yes ", "data-iv-consent-required": "", "data-iv-env": "production",
    "data-bp-lang": "fr", "data-iv-lang": "es-CL", "data-bp-auto-init": "nope",
    "data-iv-on-ready": "window.app.ready();", "data-iv-individeo-data": '{"first_name": ',
    "data-iv-auto-play": "", "data-bp-use-branding": "OFF", "data-iv-ga": "G-123",
    "data-iv-ga-event-name": "iv_video", "data-iv-tracker-group-key": "7Qm2-habitat-tgk",
    "data-iv-project-code": PROJECT, "data-iv-media-code": "3", "data-iv-unknown-thing": "x",
}


def inject(browse: Browsing, stack: Stack, org: str, attributes: dict[str, str], head: str = "") -> Page:
    """A bare host page that already loads percus-embed-sdk.js (the compat script must share it), with
    `head` run as an inline script and then a compat tag with `attributes` inserted."""
    page = browse.open(stack.page_url("_base.html", org))
    page.evaluate("""([head, src, attributes]) => {
        const inline = document.createElement("script");
        inline.textContent = head;
        document.head.append(inline);
        const tag = document.createElement("script");
        tag.src = src;
        for (const [name, value] of Object.entries(attributes)) tag.setAttribute(name, value);
        document.body.append(tag);
    }""", [head, f"{stack.gateway}/sdk/percus-individeo-compat.js", attributes])
    return page


def test_static_data_iv_tag_fires_the_callbacks_and_tracks_under_the_attachments_organization(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    page = browse.open(stack.page_url("individeo-static.html", org, code=register(stack, org)))
    wait_call(page, "onReady")
    assert page.evaluate("BluePlayer === percusPlayer && BluePlayer.ONMEDIACTA === 'onMediaCTA'")
    page.evaluate("BluePlayer.current.play()")
    wait_call(page, "onPlayComplete")
    frame = page.frame_locator("iframe")
    assert frame.locator("#greeting").inner_text() == "Hello Ana!"  # data-iv-individeo-data
    frame.locator("button[data-cta-id=simulate]").click()
    frame.locator("button[data-interaction-value=yes]").click()
    wait_call(page, "onInteraction")
    page.evaluate("BluePlayer.current.replay()")
    wait_call(page, "onReplay")
    page.evaluate("BluePlayer.current.stop()")
    wait_call(page, "onStop")

    lifecycle = {"onCreate", "onConsentAccepted", "onIFrameReady", "onDataReady", "onReady", "onStart",
                 "onMetaData", "onPlay", "onFirstPlay", "onAutoplay", "onFirstQuartileComplete",
                 "onSecondQuartileComplete", "onThirdQuartileComplete", "onLastQuartileComplete",
                 "onPlayComplete",
                 "onCTA", "onServiceCTA", "onInteraction", "onReplay", "onStop"}
    # onStart and onMetaData: the media's metadata loaded before the player was initialised, and the
    # player held that message until then.
    assert names(page, lifecycle) == [
        "onCreate", "onConsentAccepted", "onIFrameReady", "onDataReady", "onReady", "onStart", "onMetaData",
        "onPlay", "onFirstPlay",
        "onFirstQuartileComplete", "onSecondQuartileComplete", "onThirdQuartileComplete",
        "onLastQuartileComplete", "onPlayComplete", "onCTA", "onServiceCTA", "onInteraction", "onPlay",
        "onReplay", "onStop"]
    by_name = {call["name"]: call for call in calls(page)}
    assert (by_name["onCTA"]["ctaName"], by_name["onCTA"]["ctaValue"]) == ("Simulate my pension", "simulator")
    assert by_name["onServiceCTA"]["ctaName"] == "Simulate my pension"
    assert (by_name["onInteraction"]["interactionName"], by_name["onInteraction"]["interactionValue"]) == (
        "Was this video helpful?", "yes")
    chapters = [(c["name"], c["chapterName"]) for c in calls(page) if c["name"].startswith("onChapter")]
    assert chapters == [("onChapterEnter", "Welcome"), ("onChapterExit", "intro"),  # an exit names its id
                        ("onChapterEnter", "Your plan"), ("onChapterExit", "plan"),
                        ("onChapterEnter", "Welcome"), ("onChapterExit", "intro")]  # the replay, stopped
    assert all(call["current"] for call in calls(page))  # p is the player (BluePlayer.current)
    assert not names(page, {"onEnterFrame", "onGATracking"})  # stubs never fire
    # replay() and stop() rewind the player itself: no seek, so no onPlayIncomplete.
    assert not names(page, {"onSeek", "onPlayIncomplete"})
    start = next(call for call in calls(page) if call["name"] == "onStart")
    assert start["type"] == "onStart" and start["current"]

    # Loading, as a page's own spinner or progress bar reads it: the whole clip loads.
    wait_call(page, "onLoadComplete")
    loading = [(c["name"], c["loaded"]) for c in calls(page)
               if c["name"] in ("onPreloadStart", "onPreloadEnd", "onLoadProgress", "onLoadComplete")]
    assert loading[0] == ("onPreloadStart", None)
    assert [name for name, _ in loading].count("onPreloadEnd") == 1  # canplay may come before or after
    # A local clip may arrive in one piece: then a single onLoadProgress, at 100.
    percents = [loaded for name, loaded in loading if name == "onLoadProgress"]
    assert percents[-1] == 100 and percents == sorted(set(percents)) and percents[0] >= 0
    complete = loading.index(("onLoadComplete", None))
    assert loading[complete - 1] == ("onLoadProgress", 100) and loading.count(("onLoadComplete", None)) == 1

    finished = has("video.completed", "cta.clicked", "interaction.engaged", "video.incomplete")
    events = stack.wait_for(org, lambda events: finished(events) and types(events).count("video.played") == 2)
    assert types(events)[:3] == ["consent.accepted", "session.started", "video.played"]
    # replay() started a second playthrough, which stop() ended early.
    assert [e["playback_id"] for e in events if e["event_type"] == "video.played"] == [0, 1]
    replayed = types(events)[[e["playback_id"] for e in events].index(1):]
    assert "video.incomplete" in replayed and "video.completed" not in replayed
    assert_stored_canonically(events, org)
    cta = next(e for e in events if e["event_type"] == "cta.clicked")["payload"]
    assert (cta["cta_id"], cta["cta_name"], cta["cta_value"]) == (
        "simulate", "Simulate my pension", "simulator")
    assert {e["locale"] for e in events} == {"es-CL"}
    assert all(e["viewer_hash"] for e in events[1:]) and len({e["session_id"] for e in events}) == 1
    assert page.evaluate("[ivTrackerKey === percusSessionKey, typeof SmartTracking]") == [True, "function"]
    assert page.evaluate("ivTrackerKey") == events[0]["session_id"]


def test_data_bp_tag_hands_the_player_to_on_ready_which_inits_it_and_binds_bem(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    page = browse.open(stack.page_url("individeo-blueplayer.html", org, code=register(stack, org)))
    wait_call(page, "ONREADY")
    assert page.evaluate("onPlayerReady") is False  # the page disarmed its global; it ran once
    page.evaluate("BluePlayer.current.play()")
    wait_call(page, "ONPLAYCOMPLETE")
    frame = page.frame_locator("iframe")
    frame.locator("button[data-cta-id=advisor]").click()
    wait_call(page, "ONMEDIACTA")
    page.frames[1].evaluate("document.documentElement.requestFullscreen()")
    wait_call(page, "ONFULLSCREENENTER")
    page.frames[1].evaluate("document.exitFullscreen()")
    wait_call(page, "ONFULLSCREENEXIT")

    assert ("ONLOADPROGRESS", "onLoadProgress") in [(c["name"], c["type"]) for c in calls(page)]
    assert [(c["name"], c["type"]) for c in calls(page) if c["name"] != "ONLOADPROGRESS"] == [
        ("ONREADY", "onReady"), ("ONSTART", "onStart"), ("ONMETADATA", "onMetaData"),
        ("ONFIRSTQUARTILECOMPLETE", "onFirstQuartileComplete"),
        ("ONMIDPOINTCOMPLETE", "onMidPointComplete"), ("ONTHIRDQUARTILECOMPLETE", "onThirdQuartileComplete"),
        ("ONPLAYCOMPLETE", "onPlayComplete"), ("ONMEDIACTA", "onMediaCTA"),
        ("ONFULLSCREENENTER", "onFullscreenEnter"), ("ONFULLSCREENEXIT", "onFullscreenExit")]
    cta = next(c for c in calls(page) if c["name"] == "ONMEDIACTA")
    assert (cta["ctaName"], cta["ctaValue"]) == ("Talk to an advisor", "advisor")
    assert all(call["current"] for call in calls(page))
    assert frame.locator("#greeting").inner_text() == "Hello Ana!"  # from initIndivideo(data)

    events = stack.wait_for(org, has("video.completed", "cta.clicked"))
    assert_stored_canonically(events, org)
    assert types(events)[:3] == ["consent.accepted", "session.started", "video.played"]
    progressed = [e["payload"]["percent"] for e in events if e["event_type"] == "video.progressed"]
    assert sorted(progressed) == [25, 50, 75]
    # window.ivTrackingURL, the legacy alias of window.percusTrackingURL, routed every event.
    posts = [request.url for request in browse.requests if request.method == "POST"]
    assert posts and all(url.startswith(f"{stack.host}{PROXY_PATH}/events?token=") for url in posts)
    assert page.evaluate("percusTrackingURL") == f"{stack.host}{PROXY_PATH}"


def test_on_play_incomplete_is_the_viewers_seek_back_after_a_completion(
        stack: Stack, browse: Browsing) -> None:
    """Individeo's meaning: it had completed, then was moved back before the end. The player's own
    rewinds (replay(), and the restart when the viewer presses play at the end) are not seeks, and a
    seek once the video plays again belongs to the new playthrough."""
    org = stack.organization()
    page = browse.open(stack.page_url("individeo-static.html", org, code=register(stack, org)))
    wait_call(page, "onReady")
    player = page.frames[1]
    page.evaluate("BluePlayer.current.play()")
    wait_call(page, "onPlayComplete")
    player.evaluate("document.getElementById('video').play()")  # the viewer presses play at the end
    wait_call(page, "onReplay")
    page.evaluate("BluePlayer.current.pause()")
    wait_call(page, "onPause")
    player.evaluate("document.getElementById('video').currentTime = 0.5")  # a seek in the new playthrough
    wait_call(page, "onSeek")
    page.evaluate("BluePlayer.current.play()")
    wait_call(page, "onPlayComplete", 2)
    player.evaluate("document.getElementById('video').currentTime = 1")  # the viewer drags back from the end
    wait_call(page, "onSeek", 2)
    player.evaluate("document.getElementById('video').currentTime = 2")  # and again: not a second one
    wait_call(page, "onSeek", 3)

    assert names(page, {"onPlayComplete", "onReplay", "onSeek", "onPlayIncomplete"}) == [
        "onPlayComplete", "onReplay", "onSeek", "onPlayComplete", "onPlayIncomplete", "onSeek", "onSeek"]
    incomplete = next(call for call in calls(page) if call["name"] == "onPlayIncomplete")
    assert incomplete["type"] == "onPlayIncomplete" and incomplete["current"]


def test_single_page_app_injects_destroys_from_a_cta_and_injects_again(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    page = browse.open(stack.page_url("individeo-spa.html", org, code=register(stack, org)))
    wait_call(page, "ready")
    page.evaluate("BluePlayer.current.play()")
    wait_call(page, "quartile")
    page.frame_locator("iframe").locator("button[data-cta-id=advisor]").click()
    wait_call(page, "ready", 2)
    assert page.locator("iframe").count() == 1
    page.frame_locator("iframe").locator("button[data-cta-id=simulate]").click()
    wait_call(page, "destroyed", 2)
    assert page.locator("iframe").count() == 0
    assert page.evaluate("BluePlayer.current") is None

    assert [(c["name"], c.get("mount")) for c in calls(page)] == [
        ("ready", 1), ("quartile", 1), ("cta", 1), ("destroyed", None), ("ready", 2), ("cta", 2),
        ("destroyed", None)]
    assert all(c["current"] for c in calls(page) if c["name"] == "ready")
    assert [(c["ctaName"], c["ctaValue"]) for c in calls(page) if c["name"] == "cta"] == [
        ("Talk to an advisor", "advisor"), ("Simulate my pension", "simulator")]

    events = stack.wait_for(org, lambda events: types(events).count("cta.clicked") == 2
                            and "video.incomplete" in types(events))
    assert_stored_canonically(events, org)
    sessions: dict[str, list[str]] = {}
    for event in events:
        sessions.setdefault(event["session_id"], []).append(event["event_type"])
    first, second = sessions.values()
    assert first[:3] == ["consent.accepted", "session.started", "video.played"]
    assert "cta.clicked" in first and first[-1] == "video.incomplete"  # destroyed mid-video
    assert second == ["consent.accepted", "session.started", "cta.clicked"]
    assert len(browse.urls(TRACKING_SCRIPT)) == 1  # the tracking module is loaded once per page


def test_an_unregistered_attachment_code_warns_once_and_embeds_nothing(
        stack: Stack, browse: Browsing) -> None:
    browse.failing_requests_expected = True  # the lookup's 404, which the browser itself logs
    warned = warnings(browse)
    page = browse.open(stack.page_url("individeo-static.html", stack.organization(), code="never-registered"))
    page.wait_for_function("() => document.readyState === 'complete'")
    page.wait_for_timeout(500)
    assert warned == ["Percus: the Individeo attachment code never-registered is not registered "
                        "(percus legacy register): no player"]
    assert page.locator("iframe").count() == 0
    assert page.evaluate("BluePlayer.current") is None
    assert not browse.urls("/sdk/percus-embed-sdk.js") and not browse.urls(TRACKING_SCRIPT)


def test_the_script_reads_a_tag_as_translator_does_and_aliases_the_globals_both_ways(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    attributes = {**AWKWARD, "data-iv-attachment-code": register(stack, org)}
    head = ("window.app = {ready: function (player) { window.readied = player; }};"
            'window.individeoData = {"first_name": "Eva"};'  # the legacy global, set before the swap
            f"var TRACK_BASE_URL = {stack.gateway!r};")  # a `var`: carried over, cannot be aliased
    warned = warnings(browse)
    page = inject(browse, stack, org, attributes, head)
    # Until the inserted compat script has run, BluePlayer is not defined at all.
    page.wait_for_function("() => window.BluePlayer && window.readied === BluePlayer.current")

    expected = resolve_attributes(attributes).values
    settings, options, written = page.evaluate("""() => {
        const {embed, options} = BluePlayer.current;
        const written = [...embed.element.attributes].map((a) => [a.name, a.value]);
        return [embed.settings, options, Object.fromEntries(written)];
    }""")
    for target, value in expected.items():
        if target in TRACKING_ATTRIBUTES:
            # Tracking is off: the tracking module, which parses it as translator does once it tracks
            # the embed (tests/js/test_attributes.py), never did. What the compat script wrote is right.
            attribute = percus_attribute(target)
            assert attribute is not None, target
            assert parse_value(attribute.value, written.get(target), name=target).value == value, target
        elif target.startswith("data-percus-"):
            key = target.removeprefix("data-percus-").split("-")
            assert settings[key[0] + "".join(word.title() for word in key[1:])] == value, target
        else:
            assert options[target] == value, target
    assert (expected["data-percus-enable-tracking"], expected["data-percus-environment"]) == (False, "PROD")
    for expected_warning in ("unknown Individeo attribute data-iv-unknown-thing", 'data-bp-auto-init="nope"',
                             "data-iv-individeo-data is not valid JSON"):
        assert [w for w in warned if expected_warning in w], expected_warning
    assert not [w for w in warned if "first_name" in w]  # personalization data is never echoed
    # No bad JSON from the tag: the personalization data comes from window.individeoData.
    assert page.frame_locator("iframe").locator("#greeting").inner_text() == "Hello Eva!"

    assert page.evaluate("PERCUS_TRACK_BASE_URL") == f"{stack.gateway}/analytics/v1"
    assert page.evaluate("""() => {
        smartEmbedModal = "legacy";
        const forward = percusModal === "legacy";
        percusTrackerGroupKey = "percus";
        return [forward, ivtgk, individeoData === percusData, IndivideoVersion === percusVersion, IVDomains];
    }""") == [True, "percus", True, True, {"gateway": stack.gateway, "player": stack.gateway}]
    assert page.evaluate("""() => {
        const seen = [], handler = (e, data) => seen.push([e.type, data.n]);
        BEM.bind("custom", handler);
        BEM.trigger("custom", {n: 1});
        BEM.unbind("custom", handler);
        BEM.trigger("custom", {n: 2});
        return seen;
    }""") == [["custom", 1]]

    events = stack.wait_for(org, has("consent.accepted"))
    page.close()
    assert types(events) == ["consent.accepted"]  # consent given, tracking off: the decision only
    assert not browse.urls(TRACKING_SCRIPT)


def test_without_consent_callbacks_fire_but_tracking_waits_for_it(stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    attributes = {"data-iv-attachment-code": register(stack, org), "data-iv-enable-tracking": "true",
                  "data-iv-consent-accepted": "", "data-iv-recipient-code": RECIPIENT,
                  "data-iv-on-ready": "onVideo"}
    # on-ready runs before the callbacks of the same event, so it can bind onReady itself.
    head = ('window.calls = []; window.onVideo = function () { ["onReady", "onPlayComplete", '
            '"onConsentAccepted", "onTrackerKeyDefined"].forEach(function (name) { '
            "BEM.bind(name, function () { calls.push({name: name}); }); }); };")
    page = inject(browse, stack, org, attributes, head)
    wait_call(page, "onReady")
    page.evaluate("BluePlayer.current.play()")
    wait_call(page, "onPlayComplete")
    assert not browse.urls(TRACKING_SCRIPT) and not browse.posts("/analytics/v1/events")
    page.evaluate("Percus.acceptConsent()")  # the site's consent banner, as for any Percus embed
    wait_call(page, "onTrackerKeyDefined")
    assert names(page, {"onReady", "onPlayComplete", "onConsentAccepted", "onTrackerKeyDefined"}) == [
        "onReady", "onPlayComplete", "onConsentAccepted", "onTrackerKeyDefined"]
    assert len(browse.urls(TRACKING_SCRIPT)) == 1
    assert types(stack.wait_for(org, has("session.started"))) == ["consent.accepted", "session.started"]
