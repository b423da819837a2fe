"""The dashboard in process: the session cookie, access rules, security headers, exports from a page.
(Chromium drives the same pages in e2e/test_dashboard.py.)"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from gateway.api_keys import Principal
from gateway.dashboard_pages import health
from gateway.dashboard_session import COOKIE, MAX_AGE_SECONDS, Sessions
from pipeline.governance.key_ring import KeyRing
from pipeline.governance.registry import OrganizationRegistry
from tests.gateway._reporting import CAMPAIGN, TOKEN_KEYS, Reporting, open_reporting

KEYS = KeyRing.parse(TOKEN_KEYS, "PERCUS_TOKEN_KEYS")


@pytest.fixture(scope="module")
def reporting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reporting]:
    with open_reporting(tmp_path_factory.mktemp("dashboard")) as opened:
        yield opened


@pytest.fixture
def client(reporting: Reporting) -> Iterator[TestClient]:
    reporting.client.cookies.clear()
    yield reporting.client
    reporting.client.cookies.clear()


def sign_in(client: TestClient, key: str) -> str:
    response = client.post("/dashboard/sign-in", data={"key": key}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    return response.headers["set-cookie"]


def test_pages_need_a_session(client: TestClient) -> None:
    for path in ("/dashboard", "/dashboard/overview", "/dashboard/orgs/acme",
                 f"/dashboard/orgs/acme/projects/{CAMPAIGN}"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/dashboard/sign-in", path


def test_the_session_cookie_is_signed_httponly_strict_and_holds_no_key(client: TestClient,
                                                                       reporting: Reporting) -> None:
    cookie = sign_in(client, reporting.keys.acme)
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes and "samesite=strict" in attributes and "path=/dashboard" in attributes
    assert f"max-age={MAX_AGE_SECONDS}" in attributes
    assert "secure" not in attributes  # plain http://127.0.0.1; https below
    assert reporting.keys.acme not in cookie and reporting.keys.acme.split("_")[2] not in cookie
    assert client.get("/dashboard", follow_redirects=False).headers["location"] == "/dashboard/orgs/acme"
    secure = TestClient(client.app, base_url="https://testserver")
    assert "secure" in sign_in(secure, reporting.keys.acme).lower()


def test_a_forged_tampered_or_expired_cookie_is_no_session(client: TestClient, reporting: Reporting) -> None:
    sessions = Sessions(KEYS)
    acme = Principal(reporting.keys.acme.split("_")[1], "acme")
    forged = Sessions(KeyRing((("k9", b"someone-elses-secret"),)))
    for value in (_cookie(forged, acme), _cookie(sessions, acme)[:-2] + "xx", "garbage", "",
                  _admin_claims_with_acme_signature(sessions, acme)):
        client.cookies.set(COOKIE, value, path="/dashboard")
        assert client.get("/dashboard/orgs/acme", follow_redirects=False).status_code == 303, value
    expired = _cookie(sessions, acme, now=time.time() - MAX_AGE_SECONDS - 1)
    assert sessions.read(expired) is None
    assert sessions.read(_cookie(sessions, acme)) == acme


def _cookie(sessions: Sessions, principal: Principal, now: float | None = None) -> str:
    from starlette.responses import Response

    response = Response()
    sessions.issue(response, principal, secure=False, now=now)
    return response.headers["set-cookie"].split(";")[0].split("=", 1)[1]


def _admin_claims_with_acme_signature(sessions: Sessions, acme: Principal) -> str:
    import base64

    _, signature = _cookie(sessions, acme).split(".")
    claims = {"kid": acme.key_id, "org": None, "exp": int(time.time()) + 3600}
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).decode() + "." + signature


def test_an_organization_key_opens_only_its_own_pages(client: TestClient, reporting: Reporting) -> None:
    sign_in(client, reporting.keys.acme)
    own = client.get("/dashboard/orgs/acme")
    assert own.status_code == 200 and "globex" not in own.text
    assert client.get(f"/dashboard/orgs/acme/projects/{CAMPAIGN}").status_code == 200
    for path in ("/dashboard/orgs/globex", "/dashboard/orgs/globex/projects/p1", "/dashboard/orgs/initech",
                 "/dashboard/orgs/nobody", "/dashboard/overview"):
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert "<svg" not in refused.text
    refused = client.post("/dashboard/orgs/globex/projects/p1/export",
                          data={"kind": "events", "from": "2026-11-24", "to": "2026-11-25"})
    assert refused.status_code == 403
    assert not list(reporting.store.list("exports/org=globex/"))


def test_the_admin_key_opens_every_organization(client: TestClient, reporting: Reporting) -> None:
    sign_in(client, reporting.keys.admin)
    assert client.get("/dashboard", follow_redirects=False).headers["location"] == "/dashboard/overview"
    overview = client.get("/dashboard/overview")
    assert overview.status_code == 200
    assert all(f'data-organization="{org}"' in overview.text for org in ("acme", "globex", "initech"))
    assert client.get("/dashboard/orgs/globex").status_code == 200
    assert client.get("/dashboard/orgs/nobody").status_code == 404
    assert client.get("/dashboard/orgs/not%20an%20id").status_code == 404


def test_revoking_the_key_ends_its_session(client: TestClient, reporting: Reporting) -> None:
    registry = OrganizationRegistry(reporting.store)
    key = registry.create_api_key("globex")
    sign_in(client, key)
    assert client.get("/dashboard/orgs/globex").status_code == 200
    registry.revoke_api_key("globex", key.split("_")[1])
    ended = client.get("/dashboard/orgs/globex", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"] == "/dashboard/sign-in"
    assert f'{COOKIE}=""' in ended.headers["set-cookie"]


def test_sign_in_refuses_a_wrong_key_and_a_cross_site_post(client: TestClient, reporting: Reporting) -> None:
    wrong = client.post("/dashboard/sign-in", data={"key": "pk_12345678_" + "0" * 48 + "_acme"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    empty = client.post("/dashboard/sign-in", data={})
    assert empty.status_code == 401
    crowded = client.post("/dashboard/sign-in", content="&".join(f"f{n}=1" for n in range(20)),
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert crowded.status_code == 401
    cross = client.post("/dashboard/sign-in", data={"key": reporting.keys.acme},
                        headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert cross.status_code == 403 and "set-cookie" not in cross.headers


def test_sign_out_clears_the_cookie(client: TestClient, reporting: Reporting) -> None:
    sign_in(client, reporting.keys.acme)
    out = client.post("/dashboard/sign-out", follow_redirects=False)
    assert out.status_code == 303 and f'{COOKIE}=""' in out.headers["set-cookie"]
    assert client.get("/dashboard/orgs/acme", follow_redirects=False).status_code == 303


def test_pages_forbid_scripts_framing_and_caching(client: TestClient, reporting: Reporting) -> None:
    sign_in(client, reporting.keys.acme)
    for path in ("/dashboard/sign-in", "/dashboard/orgs/acme", f"/dashboard/orgs/acme/projects/{CAMPAIGN}"):
        response = client.get(path)
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "private, no-store"
        assert "<script" not in response.text and "http://" not in response.text.replace("http-equiv", "")


def test_a_bad_range_on_a_project_page_is_400(client: TestClient, reporting: Reporting) -> None:
    sign_in(client, reporting.keys.acme)
    for query in ("from=2026-11-25&to=2026-11-01", "from=yesterday", "to=2026-02-30", "to=0001-01-01"):
        response = client.get(f"/dashboard/orgs/acme/projects/{CAMPAIGN}?{query}")
        assert response.status_code == 400, query
    assert client.get("/dashboard/orgs/acme/projects/..%2Fx").status_code in (400, 404)
    export = client.post("/dashboard/orgs/acme/projects/a%20b/export",
                         data={"kind": "events", "from": "2026-11-24", "to": "2026-11-25"})
    assert export.status_code == 400
    export = client.post(f"/dashboard/orgs/acme/projects/{CAMPAIGN}/export",
                         data={"kind": "pdf", "from": "2026-11-24", "to": "2026-11-25"})
    assert export.status_code == 400


def test_an_export_from_the_project_page_is_a_signed_link_and_audited(client: TestClient,
                                                                      reporting: Reporting) -> None:
    sign_in(client, reporting.keys.acme)
    days = {"from": (reporting.now - timedelta(days=3)).date().isoformat(),
            "to": reporting.now.date().isoformat()}
    page = client.post(f"/dashboard/orgs/acme/projects/{CAMPAIGN}/export", data={"kind": "events", **days})
    assert page.status_code == 200
    found = re.search(r'href="([^"]+)" data-export-url', page.text)
    assert found is not None
    link = html.unescape(found[1])
    assert link.startswith("http://testserver/analytics/v1/exports/acme.")
    client.cookies.clear()  # the link needs no session: whoever holds it may download until it expires
    download = client.get(link)
    assert download.status_code == 200
    lines = download.text.splitlines()
    assert f'data-export-rows="{len(lines) - 1}"' in page.text and len(lines) > 1
    assert all(f'"{CAMPAIGN}"' in line for line in lines[1:])
    records = [json.loads(reporting.store.get(key)) for key in reporting.store.list("audit/")]
    assert any(r.get("actor") == f"dashboard:api_key:{reporting.keys.acme.split('_')[1]}" for r in records)


def test_health_flags_idle_failing_and_low_engagement_organizations() -> None:
    calm = {"error_spike": False}
    good = {"views": 100, "play_rate": 0.8, "completion_rate": 0.5, "playback_failure_rate": 0.01}
    assert health(good, calm).status == "healthy"
    assert health({**good, "views": 0}, calm).status == "idle"
    assert health({**good, "playback_failure_rate": 0.05}, calm).status == "errors"
    assert health(good, {"error_spike": True}).status == "errors"
    assert health({**good, "completion_rate": 0.2}, calm).status == "low"
    assert health({**good, "play_rate": 0.2}, calm).status == "low"
