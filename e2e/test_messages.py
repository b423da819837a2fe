"""The SDK believes only its player: messages from any other window or origin change nothing."""

from __future__ import annotations

import pytest

from e2e._browsing import Browsing, seen, wait_seen
from e2e._stack import Stack, has, types

pytestmark = pytest.mark.e2e

FORGED_CTA = {"percus": 1, "type": "cta.clicked", "payload": {"cta_id": "forged", "position_ms": 1}}


def test_messages_from_foreign_origins_are_ignored(stack: Stack, browse: Browsing) -> None:
    org = stack.organization()
    page = browse.open(stack.page_url("foreign-frame.html", org))
    wait_seen(page, "player.ready")
    page.wait_for_function("forgeriesPosted")  # the foreign frame posted its forgeries before this
    # The page's own window, the wrong origin for a player; the marker after it arrives after it.
    page.evaluate("""(message) => {
        forgeriesPosted = false;
        window.postMessage(message, "*");
        window.postMessage({forgeriesPosted: true}, "*");
    }""", FORGED_CTA)
    page.wait_for_function("forgeriesPosted")
    page.evaluate("Percus.play()")
    wait_seen(page, "video.completed")

    events = stack.wait_for(org, has("video.completed"))
    assert "cta.clicked" not in types(events) and "video.errored" not in types(events)
    assert not [e for e in seen(page) if e["type"] in ("cta.clicked", "video.errored")]
    ready = [e["payload"] for e in seen(page) if e["type"] == "player.ready"]
    assert [r["organization_id"] for r in ready] == [org]  # the forged ready (org and salt) was dropped
