"""GET /player: the reference player page, its configuration, salts and failure modes."""

from __future__ import annotations

import json
import re
from typing import Any

from gateway.player import MEDIA_PATH, derived_salt
from pipeline.backends import open_store
from pipeline.governance.registry import OrganizationRegistry
from tests.gateway._client import Gateway


def config(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="percus-config">(.*?)</script>', html, re.S)
    assert match, "no player configuration in the page"
    result: dict[str, Any] = json.loads(match.group(1))
    return result


def test_the_page_carries_the_organization_from_the_token_and_its_stored_salt(gateway: Gateway) -> None:
    registry = OrganizationRegistry(open_store(gateway.settings))
    salt = registry.create("acme").salt
    registry.update("acme", value_policy="drop")
    response = gateway.client.get("/player", params={"token": gateway.token("acme")})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"
    page = config(response.text)
    assert (page["organization_id"], page["org_salt"], page["error"]) == ("acme", salt, None)
    assert page["value_policy"] == "drop"  # ready hands it to the SDK, which then sends no values
    assert (page["template_id"], page["template_version"]) == ("welcome", "1")
    assert [c["chapter_id"] for c in page["chapters"]] == ["intro", "plan"]
    assert f'<video id="video" src="{MEDIA_PATH}"' in response.text
    assert 'data-cta-id="advisor"' in response.text and "data-cta-service" in response.text


def test_an_organization_without_a_stored_salt_gets_a_stable_derived_one(gateway: Gateway) -> None:
    first = config(gateway.client.get("/player", params={"token": gateway.token("globex")}).text)
    again = config(gateway.client.get("/player", params={"token": gateway.token("globex")}).text)
    other = config(gateway.client.get("/player", params={"token": gateway.token("initech")}).text)
    assert first["org_salt"] == again["org_salt"] == derived_salt(gateway.settings, "globex")
    assert first["value_policy"] == "store"
    assert other["org_salt"] != first["org_salt"] and len(first["org_salt"]) == 32


def test_a_bad_token_gives_a_page_that_reports_the_error_and_no_salt(gateway: Gateway) -> None:
    page = config(gateway.client.get("/player", params={"token": "pt1.nope"}).text)
    assert page["error"]["error_code"] == "token_malformed"
    assert page["org_salt"] is None and page["organization_id"] is None


def test_an_unknown_template_reports_template_not_found(gateway: Gateway) -> None:
    response = gateway.client.get("/player", params={"token": gateway.token(), "template": "nope"})
    assert config(response.text)["error"]["error_code"] == "template_not_found"
    assert "<video id" not in response.text


def test_token_origins_and_options_reach_the_player(gateway: Gateway) -> None:
    token = gateway.token(origins=["https://bank.example"])
    page = config(gateway.client.get("/player", params={"token": token, "autoplay": "1"}).text)
    assert page["origins"] == ["https://bank.example"] and page["autoplay"] is True


def test_configuration_is_escaped_inside_the_page(gateway: Gateway) -> None:
    response = gateway.client.get("/player", params={"token": gateway.token(), "template": "</script><b>"})
    assert "</script><b>" not in response.text
    assert config(response.text)["template_id"] == "</script><b>"


def test_the_media_fixture_is_a_small_webm_with_range_support(gateway: Gateway) -> None:
    whole = gateway.client.get(MEDIA_PATH)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/webm"
    assert whole.content[:4] == b"\x1a\x45\xdf\xa3" and len(whole.content) < 20_000  # EBML magic
    part = gateway.client.get(MEDIA_PATH, headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == whole.content[:10]
