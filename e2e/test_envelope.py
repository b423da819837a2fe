"""What the SDK writes into each event before it leaves the page: ids, locale, names cut to size."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import ConsoleMessage, Page

from e2e._browsing import Browsing, wait_seen
from e2e._stack import Stack, has
from translator.canonical import NAME_MAX_CHARS

pytestmark = pytest.mark.e2e

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
EVENTS = "/analytics/v1/events"


def warnings_of(browse: Browsing) -> list[str]:
    warnings: list[str] = []

    def collect(message: ConsoleMessage) -> None:
        if message.type == "warning":
            warnings.append(message.text)

    browse.context.on("console", collect)
    return warnings


def play_to_the_first_quartile(page: Page) -> None:
    wait_seen(page, "player.ready")
    page.evaluate("Percus.play()")
    wait_seen(page, "video.progressed", percent=25)


@pytest.mark.parametrize(("written", "stored"), [
    ("english", None),  # Individeo pages write data-iv-lang="english" too
    ("en-abcdefgh-abcdefgh-abcdefgh-abcdefgh", None),  # a tag's shape, but longer than the schema's 35
    ("es_cl", "es-CL"),  # a tag, spelled loosely: sent, and normalised by the gateway
])
def test_a_locale_that_is_no_language_tag_is_left_out_and_the_session_still_lands(
        stack: Stack, browse: Browsing, written: str, stored: str | None) -> None:
    org = stack.organization()
    warnings = warnings_of(browse)
    page = browse.open(stack.page_url("consent-upfront.html", org, locale=written))
    play_to_the_first_quartile(page)

    events = stack.wait_for(org, has("consent.accepted", "session.started", "video.played",
                                     "video.progressed"))
    assert {event["locale"] for event in events} == {stored}
    sent = browse.posted_events(page, EVENTS, {event["event_id"] for event in events})
    assert all(("locale" in event) == (stored is not None) for event in sent)
    about_it = [w for w in warnings if json.dumps(written) in w]
    assert len(about_it) == (0 if stored else 1), warnings  # one warning per embed, not per event


def test_name_fields_are_cut_to_64_code_points_before_they_leave_the_page(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    page = browse.open(stack.page_url("consent-upfront.html", org))
    wait_seen(page, "session.started")
    # cta_value is astral: 2 UTF-16 units per code point.
    long = {"cta_name": "Simula tu pensión " * 10, "cta_value": "\U0001F4B0" * 70,
            "interaction_name": "x" * 65, "interaction_value": "ok"}
    player = next(frame for frame in page.frames if frame.url.startswith(f"{stack.player}/player"))
    # The real player frame posts them, so the SDK takes them as its player's.
    player.evaluate("""([long, host]) => {
        parent.postMessage({percus: 1, type: "cta.clicked", payload: {cta_id: "long", cta_name: long.cta_name,
                            cta_value: long.cta_value, position_ms: 0}}, host);
        parent.postMessage({percus: 1, type: "interaction.engaged", payload: {interaction_id: "long",
                            interaction_name: long.interaction_name,
                            interaction_value: long.interaction_value,
                            position_ms: 0}}, host);
    }""", [long, stack.host])
    wait_seen(page, "interaction.engaged")
    events = stack.wait_for(org, has("cta.clicked", "interaction.engaged"))

    sent = browse.posted_events(page, EVENTS, {event["event_id"] for event in events})
    payloads = {event["event_type"]: event["payload"] for event in sent}
    cta, interaction = payloads["cta.clicked"], payloads["interaction.engaged"]
    # What the browser sent, not what the gateway stored: the cut happened in the page.
    assert cta["cta_name"] == long["cta_name"][:NAME_MAX_CHARS]
    assert cta["cta_value"] == "\U0001F4B0" * NAME_MAX_CHARS  # whole code points, never half a pair
    assert interaction["interaction_name"] == "x" * NAME_MAX_CHARS
    assert interaction["interaction_value"] == "ok"
    assert interaction["interaction_id"] == "long"  # ids are not cut
    stored = {event["event_type"]: event["payload"] for event in events}
    assert stored["cta.clicked"]["cta_value"] == cta["cta_value"]


def test_without_crypto_random_uuid_the_sdk_still_sends_valid_v4_uuids(
        stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    # What a page outside a secure context sees: randomUUID is missing, getRandomValues is not.
    browse.context.add_init_script("delete Crypto.prototype.randomUUID")
    page = browse.open(stack.page_url("consent-upfront.html", org))
    assert page.evaluate("typeof crypto.randomUUID") == "undefined"
    play_to_the_first_quartile(page)

    events = stack.wait_for(org, has("consent.accepted", "session.started", "video.played",
                                     "video.progressed"))
    sent = browse.posted_events(page, EVENTS, {event["event_id"] for event in events})
    ids = [event["event_id"] for event in sent]
    assert ids and all(UUID4.match(event_id) for event_id in ids)
    assert len(set(ids)) == len(ids)
    sessions = {event["session_id"] for event in sent}
    assert len(sessions) == 1 and UUID4.match(sessions.pop())
    assert sorted(ids) == sorted(event["event_id"] for event in events)  # the gateway took every one
