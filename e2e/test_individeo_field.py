"""The one-src swap on pages written the way the field writes them (fixtures/individeo/field/, from
INDIVIDEO-FIELD-NOTES.md): what a migrating customer needs of each pattern.

Every page records what its own handlers saw in `window.calls`; the `browse` fixture already checks
that no script threw or logged an error and that no request carried the recipient code.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from e2e._browsing import Browsing
from e2e._individeo import assert_stored_canonically, register, warnings
from e2e._stack import Stack, types

pytestmark = pytest.mark.e2e


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
