"""GET /demo: a host page with a working embed for the demo organization."""

from __future__ import annotations

import re

from gateway.demo import DEMO_ORG, DEMO_PROJECT
from gateway.tokens import TokenVerifier
from js.dist import DIST, version_of
from tests.gateway._client import Gateway


def test_the_demo_page_embeds_the_player_with_a_fresh_demo_token(gateway: Gateway) -> None:
    response = gateway.client.get("/demo")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    token = re.search(r'data-percus-share-token="([^"]+)"', response.text)
    assert token
    share = TokenVerifier(gateway.settings.token_keys).verify(token.group(1))
    assert (share.organization_id, share.project_id) == (DEMO_ORG, DEMO_PROJECT)
    version = version_of((DIST / "percus-embed-sdk.js").read_bytes())
    assert f'src="/sdk/percus-embed-sdk.js?v={version}"' in response.text
    assert 'data-percus-enable-tracking="true"' in response.text
    assert "data-percus-consent-accepted" not in response.text  # the visitor decides on the page
