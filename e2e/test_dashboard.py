"""The dashboard in Chromium: sign in with an organization or admin key, every page draws its SVG
charts, the numbers on the page are the reports API's, and another organization's pages are refused;
an organization without data waits on its install snippet until its first event is counted.

Set PERCUS_UPDATE_SCREENSHOTS=1 to rewrite docs/dashboard-*.png (1200×800) from these pages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from e2e._browsing import Browsing
from e2e._stack import Server, free_port
from gateway.app import create_app
from gateway.middleware.rate_limit import RateLimits
from pipeline.config import load_settings
from pipeline.curated.compactor import compact
from pipeline.governance.registry import OrganizationRegistry
from pipeline.queue.local import LocalQueue
from pipeline.raw.writer import drain_batch
from pipeline.reporting.formatting import count, label, percent, share
from pipeline.store.local import LocalStore
from tests.gateway._events import event
from tests.gateway._reporting import CAMPAIGN, SMALL_CAMPAIGN, Keys, bearer, reporting_store
from translator.canonical import format_timestamp

pytestmark = pytest.mark.e2e

DOCS = Path(__file__).resolve().parents[1] / "docs"
VIEWPORT = {"width": 1200, "height": 800}
SUMMARY_TILES = {"views": count, "unique_viewers": count, "play_rate": share, "completion_rate": share,
                 "avg_max_percent": percent, "cta_ctr": share, "errors": count}
LIVE_TILES = {"views": count, "plays": count, "completion_rate": share, "cta_ctr": share, "errors": count}


@dataclass
class Dashboard:
    url: str
    keys: Keys

    def api(self, report: str, key: str, **params: Any) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/analytics/v1/reports/{report}", params=params, headers=bearer(key))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["result"]
        return result


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    root = tmp_path_factory.mktemp("dashboard")
    settings = load_settings({"PERCUS_DATA_DIR": str(root), "PERCUS_TOKEN_KEYS": "e2e:dashboard-secret"})
    store, keys = reporting_store(root / "bucket", datetime.now(UTC))
    queue = LocalQueue(root / "queue")
    server = Server(create_app(settings, queue, store=store, rate_limits=RateLimits()), free_port())
    server.start()
    yield Dashboard(server.url, keys)
    server.stop()
    queue.close()


def sign_in(browse: Browsing, dashboard: Dashboard, key: str) -> Page:
    browse.context.clear_cookies()
    page = browse.open(f"{dashboard.url}/dashboard")
    page.set_viewport_size(VIEWPORT)
    expect(page).to_have_url(f"{dashboard.url}/dashboard/sign-in")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    return page


def screenshot(page: Page, name: str) -> None:
    if os.environ.get("PERCUS_UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=DOCS / f"dashboard-{name}.png")


def assert_charts(page: Page, *names: str) -> None:
    for name in names:
        chart = page.locator(f"svg[data-chart='{name}']")
        expect(chart).to_be_visible()
        assert chart.locator("rect").count() >= 1, name


def bars(page: Page, name: str) -> list[tuple[str, float]]:
    rects = page.locator(f"svg[data-chart='{name}'] rect")
    return [(rect.get_attribute("data-label") or "", float(rect.get_attribute("data-value") or "nan"))
            for rect in rects.all()]


def assert_tiles(page: Page, scope: str, expected: dict[str, Any], formats: dict[str, Any]) -> None:
    for name, shown in formats.items():
        tile = page.locator(f"{scope} [data-metric='{name}']")
        value = expected[name]
        assert tile.get_attribute("data-value") == ("" if value is None else str(value)), name
        assert tile.inner_text() == shown(expected[name]), name
        # Headed as the command line and the digest word the metric (upper case is the page's style).
        assert page.locator(f"{scope} .tile:has([data-metric='{name}']) .k").text_content() == label(name)


def test_sign_in_page_asks_for_a_key_and_refuses_a_wrong_one(browse: Browsing, dashboard: Dashboard) -> None:
    page = browse.open(f"{dashboard.url}/dashboard/sign-in")
    page.set_viewport_size(VIEWPORT)
    screenshot(page, "sign-in")
    browse.failing_requests_expected = True  # the refused sign-in answers 401
    page.fill("input[name=key]", "pk_00000000_" + "0" * 48 + "_acme")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("unknown, malformed or revoked")
    assert browse.context.cookies() == []


def test_organization_pages_show_the_api_numbers_and_refuse_another_organization(
        browse: Browsing, dashboard: Dashboard) -> None:
    key = dashboard.keys.acme
    page = sign_in(browse, dashboard, key)

    # The live page: where an organization key lands, refreshing itself every minute.
    expect(page).to_have_url(f"{dashboard.url}/dashboard/orgs/acme")
    cookie, = browse.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/dashboard"
    assert key not in cookie["value"]
    assert page.locator("meta[http-equiv=refresh]").get_attribute("content") == "60"
    assert_charts(page, "live-sessions", "live-errors")
    live = dashboard.api("live", key)
    assert live["views"] > 0
    assert_tiles(page, "[data-section=live]", live, LIVE_TILES)
    campaigns = page.locator("[data-table=campaigns] tr[data-project]")
    names = [row.get_attribute("data-project") for row in campaigns.all()]
    assert names == sorted([CAMPAIGN, SMALL_CAMPAIGN])
    per_campaign = {name: dashboard.api("live", key, project_id=name) for name in names}
    for row in campaigns.all():
        expected = per_campaign[row.get_attribute("data-project") or ""]
        for name, shown in LIVE_TILES.items():
            assert row.locator(f"[data-metric='{name}']").inner_text() == shown(expected[name]), name
    today = datetime.now(UTC).date()
    first = today - timedelta(days=29)
    # A project's bar is named as the page names it: by its name when the data carries one.
    titles = {row["project_id"]: row["project_name"] or row["project_id"]
              for row in dashboard.api("projects", key, **{"from": first, "to": today})["projects"]}
    assert bars(page, "live-sessions") == [(titles[name], per_campaign[name]["views"]) for name in names]
    # The page and the API each cover the 60 minutes before their own instant, and a 5-minute boundary
    # may pass between the two: the spans both show in full (all but each one's first) must agree.
    shown = dict(bars(page, "live-errors")[1:])
    answered = {bucket["start"][11:16]: bucket["errors"] for bucket in live["errors_per_bucket"][1:]}
    common = shown.keys() & answered.keys()
    assert len(common) >= 10 and {at: shown[at] for at in common} == {at: answered[at] for at in common}
    listed = page.locator("[data-table=projects] tr[data-project]")
    assert listed.count() >= 1
    for project_row in listed.all():
        project = project_row.get_attribute("data-project")
        summary = dashboard.api("summary", key, project_id=project, **{"from": first, "to": today})
        assert project_row.locator("[data-metric=views]").inner_text() == count(summary["views"])
        assert project_row.locator("[data-metric=completion_rate]").inner_text() == share(
            summary["completion_rate"])
    screenshot(page, "live")

    # The project drill-down, from the live page's link.
    page.click(f"[data-table=campaigns] a[href$='/projects/{CAMPAIGN}']")
    expect(page).to_have_url(f"{dashboard.url}/dashboard/orgs/acme/projects/{CAMPAIGN}")
    assert_charts(page, "dropoff", "engagement", "funnel", "ctas", "errors", "device_type", "locale",
                  "country")
    selection = {"project_id": CAMPAIGN, "from": first, "to": today}
    assert_tiles(page, "[data-section=summary]", dashboard.api("summary", key, **selection), SUMMARY_TILES)
    dropoff = dashboard.api("dropoff", key, **selection)  # in one unit: the share of plays
    assert dropoff["plays"]
    assert [value for _, value in bars(page, "dropoff")] == [
        1.0, *(milestone["fraction"] for milestone in dropoff["milestones"])]
    engagement = dashboard.api("engagement", key, **selection)
    assert engagement["plays_with_data"] and engagement["plays_without_data"]
    assert [value for _, value in bars(page, "engagement")] == [
        fraction or 0.0 for bucket in engagement["buckets"]
        for fraction in (bucket["watched_share"], bucket["watched_again_share"])]
    assert page.locator("[data-metric=avg_watched_percent]").inner_text() == percent(
        engagement["avg_watched_percent"])
    ctas = dashboard.api("ctas", key, **selection)
    assert bars(page, "funnel") == [(label("views"), ctas["views"]), (label("plays"), ctas["plays"]),
                                    (label("cta_sessions"), ctas["cta_sessions"])]
    assert bars(page, "ctas") == [(row["cta_name"], row["sessions"]) for row in ctas["ctas"]]
    errors = dashboard.api("errors", key, **selection)
    assert bars(page, "errors") == [(row["error_code"], row["errors"]) for row in errors["codes"]]
    for dimension in ("device_type", "locale", "country"):
        breakdown = dashboard.api("breakdown", key, dimension=dimension, **selection)
        assert bars(page, dimension) == [(row["value"] or "unknown", row["views"])
                                         for row in breakdown["rows"][:8]]
    screenshot(page, "project")

    # Another organization's pages: refused, with nothing of theirs on the page.
    globex_views = dashboard.api("summary", dashboard.keys.globex)["views"]
    assert globex_views > 0
    for path in ("/dashboard/orgs/globex", "/dashboard/orgs/globex/projects/p1", "/dashboard/overview"):
        response = page.goto(f"{dashboard.url}{path}")
        assert response is not None and response.status == 403, path
        expect(page.locator("h1")).to_have_text("Not allowed")
        assert page.locator("svg").count() == 0
    browse.failing_requests_expected = True  # the 403s above


def test_admin_overview_shows_every_organization_and_opens_their_pages(
        browse: Browsing, dashboard: Dashboard) -> None:
    admin = dashboard.keys.admin
    page = sign_in(browse, dashboard, admin)
    expect(page).to_have_url(f"{dashboard.url}/dashboard/overview")
    assert_charts(page, "completion")
    today = datetime.now(UTC).date()
    period = {"from": today - timedelta(days=29), "to": today}
    rows = page.locator("[data-table=organizations] tr[data-organization]")
    assert [row.get_attribute("data-organization") for row in rows.all()] == ["acme", "globex", "initech"]
    for row in rows.all():
        org = row.get_attribute("data-organization")
        summary = dashboard.api("summary", admin, organization_id=org, **period)
        live = dashboard.api("live", admin, organization_id=org)
        for name in ("views", "play_rate", "completion_rate", "cta_ctr", "playback_failure_rate"):
            shown = count if name == "views" else share
            assert row.locator(f"[data-metric='{name}']").inner_text() == shown(summary[name]), (org, name)
        assert row.locator("[data-metric=live_views]").inner_text() == count(live["views"])
    assert page.locator("tr[data-organization=initech] [data-health]").get_attribute("data-health") == "idle"
    assert bars(page, "completion") == [
        (org, dashboard.api("summary", admin, organization_id=org, **period)["completion_rate"] or 0)
        for org in ("acme", "globex", "initech")]
    screenshot(page, "overview")

    page.click("a[href='/dashboard/orgs/globex']")
    expect(page.locator("h1")).to_have_text("Live campaigns")
    expect(page.locator(".crumbs")).to_contain_text("globex")


def test_a_new_organization_waits_on_its_snippet_until_its_first_event_is_counted(
        browse: Browsing, tmp_path: Path) -> None:
    settings = load_settings({"PERCUS_DATA_DIR": str(tmp_path), "PERCUS_TOKEN_KEYS": "e2e:dashboard-secret"})
    store, queue = LocalStore(tmp_path / "bucket"), LocalQueue(tmp_path / "queue")
    registry = OrganizationRegistry(store)
    registry.create("newco")
    key = registry.create_api_key("newco")
    server = Server(create_app(settings, queue, store=store, rate_limits=RateLimits()), free_port())
    server.start()
    try:
        page = sign_in(browse, Dashboard(server.url, Keys(key, key, key)), key)
        expect(page).to_have_url(f"{server.url}/dashboard/orgs/newco")
        expect(page.locator("[data-waiting]")).to_be_visible()
        snippet = page.locator("[data-snippet]").inner_text()
        assert f'src="{server.url}/sdk/percus-embed-sdk.js"' in snippet
        token = snippet.split('data-percus-share-token="')[1].split('"')[0]
        screenshot(page, "waiting")

        # The snippet's token takes an event; once the pipeline has counted it, the page turns into
        # the live view by itself.
        sent = httpx.post(f"{server.url}/analytics/v1/events", params={"token": token},
                          json=event("session.started", occurred_at=format_timestamp(datetime.now(UTC))))
        assert sent.status_code == 202 and sent.json()["accepted"] == 1
        while drain_batch(queue, store, max_wait=0).received:
            pass
        compact(store)
        expect(page.locator("h1")).to_have_text("Live campaigns", timeout=20_000)
        expect(page.locator("[data-section=live] [data-metric=views]")).to_have_text("1")
        expect(page.locator("[data-table=campaigns] tr[data-project=first-video]")).to_be_visible()
    finally:
        server.stop()
        queue.close()
