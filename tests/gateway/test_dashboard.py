"""The dashboard in process: the session cookie, access rules, security headers, exports from a page.
(Chromium drives the same pages in e2e/test_dashboard.py.)"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from gateway.api_keys import Principal
from gateway.dashboard_pages import FIRST_TOKEN_TTL_SECONDS, health, project_label
from gateway.dashboard_session import COOKIE, MAX_AGE_SECONDS, Sessions
from gateway.tokens import TokenVerifier
from pipeline.governance.key_ring import KeyRing
from pipeline.governance.registry import OrganizationRegistry
from pipeline.reporting.formatting import label
from tests.gateway._events import event
from tests.gateway._headers import metric_headers
from tests.gateway._reporting import CAMPAIGN, TOKEN_KEYS, Reporting, open_reporting
from tests.pipeline._sessions import Session, ingest

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


# -- labels, charts, empty states, dates, presets and the comparison ---------------------------------

def test_every_metric_is_headed_by_its_label_as_the_command_line_and_the_digest_word_it(
        client: TestClient, reporting: Reporting) -> None:
    sign_in(client, reporting.keys.acme)
    live = metric_headers(client.get("/dashboard/orgs/acme").text)
    project = metric_headers(client.get(f"/dashboard/orgs/acme/projects/{CAMPAIGN}").text)
    sign_in(client, reporting.keys.admin)
    overview = metric_headers(client.get("/dashboard/overview").text)
    # Every tile and column of each page is found (the live page's count is of views, as elsewhere).
    assert {metric for metric, _ in live} == {"views", "plays", "play_rate", "completion_rate", "cta_ctr",
                                              "errors"}
    assert {metric for metric, _ in project} == {"views", "unique_viewers", "play_rate", "completion_rate",
                                                 "avg_max_percent", "cta_ctr", "errors"}
    assert {metric for metric, _ in overview} == {"views", "play_rate", "completion_rate", "cta_ctr",
                                                  "playback_failure_rate", "live_views"}
    headers = [*live, *project, *overview]
    assert [(metric, header) for metric, header in headers if header != label(metric)] == []
    assert ("completion_rate", "Completion rate") in headers and ("live_views", "Live views") in headers


def test_the_funnel_bars_are_named_by_their_metrics_labels(client: TestClient, reporting: Reporting) -> None:
    sign_in(client, reporting.keys.acme)
    funnel = charts(client.get(f"/dashboard/orgs/acme/projects/{CAMPAIGN}").text)["funnel"]
    assert [html.unescape(name) for name in re.findall(r'data-label="([^"]+)"', funnel)] == [
        label("views"), label("plays"), label("cta_sessions")]


# -- charts, empty states, dates, presets and the comparison ----------------------------------------

def charts(page: str) -> dict[str, str]:
    """Each chart's SVG by its name."""
    return {m[1]: m[0] for m in re.finditer(r'<svg class="chart" data-chart="([^"]+)".*?</svg>', page, re.S)}


def ticks(chart: str) -> list[str]:
    return [html.unescape(text) for text in re.findall(r'<text class="tick"[^>]*>([^<]*)</text>', chart)]


def test_every_chart_has_a_value_axis_with_units_a_title_and_a_description(client: TestClient,
                                                                            reporting: Reporting) -> None:
    sign_in(client, reporting.keys.acme)
    page = client.get(f"/dashboard/orgs/acme/projects/{CAMPAIGN}").text
    drawn = charts(page)
    assert set(drawn) == {"dropoff", "engagement", "funnel", "ctas", "errors", "device_type", "locale",
                          "country"}
    for name, chart in drawn.items():
        assert '<line class="axis"' in chart and f'<title id="chart-{name}-title">' in chart, name
        description = re.search(r"<desc[^>]*>([^<]+)</desc>", chart)
        assert description is not None and "Axis: 0 to" in description[1], name
        assert ticks(chart)[0] == "0 %" if name in ("dropoff", "engagement") else ticks(chart)[0] == "0", name
    # Percentages of plays from 0 to 100 %, counts up to a round number at or above the largest bar.
    assert ticks(drawn["dropoff"]) == ["0 %", "25 %", "50 %", "75 %", "100 %", "of plays"]
    assert ticks(drawn["engagement"]) == ["0 %", "25 %", "50 %", "75 %", "100 %", "of plays"]
    views = int(re.findall(r'data-label="Views"\s+data-value="(\d+)"', drawn["funnel"])[0])
    funnel = ticks(drawn["funnel"])
    assert funnel[-1].endswith(" views") and int(funnel[-1].split()[0].replace(",", "")) >= views
    assert ticks(drawn["errors"])[-1].endswith(" errors")

    live = client.get("/dashboard/orgs/acme").text
    errors = charts(live)["live-errors"]
    assert ticks(charts(live)["live-sessions"])[-1].endswith(" views") and ticks(errors)[-1] == "errors"
    # The 5-minute buckets sit on the clock: every start, and so every label, is :00, :05, …
    starts = re.findall(r'<rect class="bar"[^>]*data-label="(\d\d:\d\d)"', errors)
    assert len(starts) in (12, 13) and all(int(start[3:]) % 5 == 0 for start in starts)
    labels = re.findall(r'<text class="label"[^>]*>(\d\d:\d\d)</text>', errors)
    assert labels == starts[::2]


def test_the_drop_off_chart_is_in_one_unit_the_share_of_plays(client: TestClient,
                                                               reporting: Reporting) -> None:
    sign_in(client, reporting.keys.acme)
    # p1 on 2026-11-24 (tests/pipeline/_sessions.py): 5 plays; S1-S4 reached 25 % (S3 at 80 %, S4 at
    # 60 %); S1, S3 and S4 50 %; S1 and S3 75 % and 100 %; S7 left at 10 %.
    page = client.get("/dashboard/orgs/acme/projects/p1?from=2026-11-24&to=2026-11-24").text
    dropoff = charts(page)["dropoff"]
    assert re.findall(r'data-label="([^"]+)"\s+data-value="([^"]+)"', dropoff) == [
        ("Started", "1.0"), ("25 %", "0.8"), ("50 %", "0.6"), ("75 %", "0.4"), ("100 %", "0.4")]
    assert re.findall(r'<text class="value"[^>]*>([^<]+)</text>', dropoff) == [
        "100.0 %", "80.0 %", "60.0 %", "40.0 %", "40.0 %"]
    assert '<span data-metric="dropoff_plays">5</span> plays' in page


def test_a_panel_with_nothing_to_show_says_so(client: TestClient, reporting: Reporting) -> None:
    sign_in(client, reporting.keys.acme)
    page = client.get(f"/dashboard/orgs/acme/projects/{CAMPAIGN}?from=2026-01-01&to=2026-01-07").text
    assert "<svg" not in page
    empty = dict(re.findall(r'data-empty="([^"]+)"[^>]*>([^<]+)<', page))
    assert empty == {"dropoff": "No plays in this period.", "engagement": "No plays in this period.",
                     "funnel": "No views in this period.", "errors": "No errors in this period.",
                     "device_type": "No views in this period.", "locale": "No views in this period.",
                     "country": "No views in this period."}
    # Globex has data, but none in the last hour: no 12 flat columns, a sentence.
    sign_in(client, reporting.keys.globex)
    live = client.get("/dashboard/orgs/globex").text
    assert 'data-chart="live-errors"' not in live
    assert '<p class="empty" data-empty="live-errors">No errors in this period.</p>' in live


def test_dates_are_shown_in_iso_form_as_the_date_fields_take_them(client: TestClient,
                                                                   reporting: Reporting) -> None:
    sign_in(client, reporting.keys.acme)
    page = client.get("/dashboard/orgs/acme/projects/p1?from=2026-11-24&to=2026-11-25").text
    assert "Sessions that started 2026-11-24 – 2026-11-25 (UTC)" in page
    assert 'name="from" value="2026-11-24" placeholder="YYYY-MM-DD"' in page
    assert 'name="to" value="2026-11-25" placeholder="YYYY-MM-DD"' in page
    assert 'type="date"' not in page  # a browser would show it in its locale's form
    text = re.sub(r"<[^>]+>", " ", page)
    assert not re.search(r"\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b", text)
    assert not re.search(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\b", text)
    live = client.get("/dashboard/orgs/acme").text
    since = re.search(r"Sessions started since (\S+) (\d\d:\d\d) UTC", live)
    assert since is not None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", since[1])


def test_presets_link_the_last_7_30_and_90_days(client: TestClient, reporting: Reporting) -> None:
    sign_in(client, reporting.keys.acme)
    today = datetime.now(UTC).date()
    page = client.get(f"/dashboard/orgs/acme/projects/{CAMPAIGN}").text
    preset = r'<a href="\?from=([\d-]+)&amp;to=([\d-]+)" data-preset="(\d+)"\s*(aria-current="page")?'
    links = re.findall(preset, page)
    assert links == [(str(today - timedelta(days=days - 1)), str(today), str(days),
                      'aria-current="page"' if days == 30 else "") for days in (7, 30, 90)]
    week = client.get(f"/dashboard/orgs/acme/projects/{CAMPAIGN}?from={today - timedelta(days=6)}&to={today}")
    assert week.status_code == 200
    assert re.search(r'data-preset="7"\s*aria-current="page"', week.text)
    assert "vs previous 7 days" in week.text


def test_the_tiles_compare_with_the_previous_period_as_the_digest_does(client: TestClient,
                                                                     reporting: Reporting) -> None:
    sign_in(client, reporting.keys.acme)
    # p1 (tests/pipeline/_sessions.py) on 2026-11-25: S10 only, 1 view, played, left at 30 %. The day
    # before: S1-S7, 7 views, 5 plays (71.4 %), 2 completions (40 %), furthest points 100, 40, 100, 60
    # and 10 (62 %), one CTA click (14.3 %), 3 errors (S6, S7 and one without consent).
    page = client.get("/dashboard/orgs/acme/projects/p1?from=2026-11-25&to=2026-11-25").text
    changes = {name: (html.unescape(title), text)
               for name, title, text in re.findall(r'data-change="(\w+)" title="([^"]*)">([^<]*)<', page)}
    assert changes == {
        "views": ("2026-11-24 – 2026-11-24: 7", "-86 % vs previous day"),
        "unique_viewers": ("2026-11-24 – 2026-11-24: 7", "-86 % vs previous day"),
        "play_rate": ("2026-11-24 – 2026-11-24: 71.4 %", "+28.6 pp vs previous day"),
        "completion_rate": ("2026-11-24 – 2026-11-24: 40.0 %", "-40.0 pp vs previous day"),
        "avg_max_percent": ("2026-11-24 – 2026-11-24: 62.0 %", "-32.0 pp vs previous day"),
        "cta_ctr": ("2026-11-24 – 2026-11-24: 14.3 %", "-14.3 pp vs previous day"),
        "errors": ("2026-11-24 – 2026-11-24: 3", "-100 % vs previous day")}
    # Two days against the two before them, which had no data: counts are new, rates have nothing to
    # compare with.
    page = client.get("/dashboard/orgs/acme/projects/p1?from=2026-11-24&to=2026-11-25").text
    changes = dict(re.findall(r'data-change="(\w+)" title="[^"]*">([^<]*)<', page))
    assert changes["views"] == "new vs previous 2 days"
    assert changes["completion_rate"] == "no data in the previous 2 days"


# -- an organization without data: the install snippet and the wait for its first event -------------

def test_an_organization_without_data_gets_its_snippet_with_a_working_token(client: TestClient,
                                                                           reporting: Reporting) -> None:
    registry = OrganizationRegistry(reporting.store)
    registry.create("newco")
    sign_in(client, registry.create_api_key("newco"))
    response = client.get("/dashboard/orgs/newco")
    assert response.status_code == 200
    page = response.text
    assert "Waiting for the first event…" in page and 'data-chart' not in page
    policy = response.headers["content-security-policy"]
    for directive in ("script-src 'self'", "connect-src 'self'", "default-src 'none'",
                      "frame-ancestors 'none'"):
        assert directive in policy
    script = re.search(r'<script src="([^"]+)" data-status-url="([^"]+)" data-every-ms="3000" defer>', page)
    assert script is not None and script[2] == "/dashboard/orgs/newco/first-event"
    assert client.get(script[1]).headers["content-type"].startswith("text/javascript")
    assert '<noscript><meta http-equiv="refresh" content="30"></noscript>' in page

    token = html.unescape(re.findall(r'data-percus-share-token="([^"]+)"', page)[0])
    share = TokenVerifier(KEYS).verify(token)
    assert (share.organization_id, share.project_id) == ("newco", "first-video")
    assert abs(share.expires_at - time.time() - FIRST_TOKEN_TTL_SECONDS) < 60
    expires = datetime.fromtimestamp(share.expires_at, UTC).strftime("%Y-%m-%d %H:%M")
    assert f"<span data-token-expires>{expires}</span> UTC" in page
    assert '<script src="http://testserver/sdk/percus-embed-sdk.js" async>' in html.unescape(page)
    # The token is one the organization can use: the gateway takes an event with it.
    accepted = client.post(f"/analytics/v1/events?token={token}", json=event("session.started"))
    assert accepted.status_code == 202 and accepted.json()["accepted"] == 1
    # Another project id, on request; a malformed one is refused.
    other = client.get("/dashboard/orgs/newco?project=spring-promo").text
    other_token = html.unescape(re.findall(r'data-percus-share-token="([^"]+)"', other)[0])
    assert TokenVerifier(KEYS).verify(other_token).project_id == "spring-promo"
    assert client.get("/dashboard/orgs/newco?project=..%2Fx").status_code == 400

    status = client.get("/dashboard/orgs/newco/first-event")
    assert status.status_code == 200 and status.json() == {"organization_id": "newco", "counted": False}
    # Once an event is counted (compacted), the poll says so and the page is the live view.
    ingest(reporting.store, [Session(reporting.now - timedelta(minutes=3), org="newco")
                             .at(0, "session.started")])
    assert client.get("/dashboard/orgs/newco/first-event").json()["counted"] is True
    live = client.get("/dashboard/orgs/newco")
    assert "<h1>Live campaigns</h1>" in live.text and "<script" not in live.text
    assert "script-src" not in live.headers["content-security-policy"]


def test_the_first_event_poll_is_for_signed_in_readers_of_the_organization(client: TestClient,
                                                                           reporting: Reporting) -> None:
    signed_out = client.get("/dashboard/orgs/initech/first-event")
    assert signed_out.status_code == 401 and signed_out.json()["error"]["code"] == "signed_out"
    sign_in(client, reporting.keys.acme)
    refused = client.get("/dashboard/orgs/initech/first-event")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "organization_forbidden"
    assert "pt1." not in client.get("/dashboard/orgs/initech").text  # no token for another organization
    counted = client.get("/dashboard/orgs/acme/first-event").json()
    assert counted == {"organization_id": "acme", "counted": True}
    sign_in(client, reporting.keys.admin)
    assert client.get("/dashboard/orgs/initech/first-event").json()["counted"] is False
    assert client.get("/dashboard/orgs/nobody/first-event").status_code == 404


def test_a_project_is_shown_by_its_name_when_the_data_has_one() -> None:
    assert project_label({"project_id": "p1"}) == "p1"
    assert project_label({"project_id": "p1", "project_name": None}) == "p1"
    assert project_label({"project_id": "p1", "project_name": "Spring launch"}) == "Spring launch"
