"""GET /sdk/<name>: the bundles of js/dist and percus.d.ts with validators, cache lifetimes and gzip."""

from __future__ import annotations

import gzip

import pytest

from gateway.sdk_files import IMMUTABLE, SHORT
from js.dist import BUNDLES, DIST, version_of
from tests.gateway._client import Gateway


@pytest.mark.parametrize("name", BUNDLES)
def test_serves_the_bundle_with_etag_and_a_short_cache(gateway: Gateway, name: str) -> None:
    content = (DIST / name).read_bytes()
    response = gateway.client.get(f"/sdk/{name}", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["etag"] == f'"{version_of(content)}"'
    assert response.headers["cache-control"] == SHORT
    assert response.headers["vary"] == "Accept-Encoding"
    assert "content-encoding" not in response.headers


def test_serves_the_typescript_declarations(gateway: Gateway) -> None:
    response = gateway.client.get("/sdk/percus.d.ts")
    assert response.status_code == 200 and response.content == (DIST / "percus.d.ts").read_bytes()
    assert response.headers["content-type"] == "application/typescript; charset=utf-8"


def test_a_versioned_url_is_immutable_only_for_the_current_version(gateway: Gateway) -> None:
    version = version_of((DIST / "percus-tracking.js").read_bytes())
    current = gateway.client.get(f"/sdk/percus-tracking.js?v={version}")
    stale = gateway.client.get("/sdk/percus-tracking.js?v=0123456789ab")
    assert current.headers["cache-control"] == IMMUTABLE
    assert stale.headers["cache-control"] == SHORT  # never pin other bytes under an old version


def test_gzip_when_accepted(gateway: Gateway) -> None:
    content = (DIST / "percus-embed-sdk.js").read_bytes()
    # httpx decodes transparently: read the raw stream to see what went over the wire.
    with gateway.client.stream("GET", "/sdk/percus-embed-sdk.js",
                               headers={"Accept-Encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["etag"] == f'"{version_of(content)}-gzip"'
    assert gzip.decompress(raw) == content and len(raw) < len(content)
    refused = gateway.client.get("/sdk/percus-embed-sdk.js", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


@pytest.mark.parametrize("accept", ["identity", "gzip"])
def test_if_none_match_answers_304(gateway: Gateway, accept: str) -> None:
    first = gateway.client.get("/sdk/percus-embed-sdk.js", headers={"Accept-Encoding": accept})
    again = gateway.client.get("/sdk/percus-embed-sdk.js", headers={
        "Accept-Encoding": accept, "If-None-Match": f'W/"nope", {first.headers["etag"]}'})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    changed = gateway.client.get("/sdk/percus-embed-sdk.js", headers={"If-None-Match": '"0123456789ab"'})
    assert changed.status_code == 200


def test_an_unknown_bundle_is_a_json_404(gateway: Gateway) -> None:
    response = gateway.client.get("/sdk/nope.js")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
