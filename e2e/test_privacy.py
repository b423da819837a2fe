"""The privacy proof: a full session through the real SDK, player and gateway, a legacy Individeo post
and a native sender, every pipeline step after them, then every byte the system wrote is searched.

What must appear nowhere — queue segments, raw objects (decompressed), curated Parquet and rollups
(decoded), exports, state, audit log, and every log line the processes emitted: the client's IP
address (sent as X-Forwarded-For and X-Real-IP), its User-Agent string, the recipient code, and the
viewer hash the browser computed (the gateway stores it keyed).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import Browser, Route

from e2e._browsing import Browsing, player_frame, wait_seen
from e2e._stack import RECIPIENT, Stack, has
from gateway.tokens import issue_token
from pipeline.curated.compactor import compact
from pipeline.governance.registry import OrganizationRegistry
from pipeline.query import open_engine
from pipeline.reporting.exports import create_export
from pipeline.reporting.rollups import build_rollups
from pipeline.reporting.selection import Selection

pytestmark = pytest.mark.e2e

CLIENT_IP = "203.0.113.77"
USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 "
              "Safari/537.36 PercusPrivacyProbe/7.7")
GROUP_KEY = "privacy-probe-group-key"


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[Path]:
    """Every log record of this process (gateway, writer, compactor…) at DEBUG, in a file."""
    path = tmp_path / "all.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield path
    root.removeHandler(handler)
    root.setLevel(level)
    handler.close()


def _with_client_address(route: Route) -> None:
    # Added on the wire, below the page's CORS logic: what a load balancer in front would add.
    route.continue_(headers={**route.request.headers, "x-forwarded-for": CLIENT_IP, "x-real-ip": CLIENT_IP})


def _readable(path: Path) -> bytes:
    """A stored file as searchable bytes: raw and decompressed, Parquet as its decoded rows too."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        return data + gzip.decompress(data)
    if path.suffix == ".parquet":
        rows = pq.read_table(io.BytesIO(data)).to_pylist()
        return data + json.dumps(rows, default=str, ensure_ascii=False).encode()
    return data


def test_nothing_stored_or_logged_holds_the_ip_user_agent_recipient_or_client_hash(
        stack: Stack, browser: Browser, logs: Path) -> None:
    org = stack.organization()
    registry = OrganizationRegistry(stack.store)
    salt = registry.create(org, legacy_group_keys=(GROUP_KEY,)).salt
    client_hash = hashlib.sha256(f"{org}:{RECIPIENT}:{salt}".encode()).hexdigest()

    # 1. A full viewing session in Chromium, under a distinctive User-Agent and client address.
    context = browser.new_context(user_agent=USER_AGENT)
    context.route(f"{stack.gateway}/**", _with_client_address)
    browse = Browsing(context)
    context.on("request", lambda request: browse.requests.append(request))
    page = browse.open(stack.page_url("consent-upfront.html", org))
    wait_seen(page, "player.ready")
    page.evaluate("Percus.play()")
    wait_seen(page, "video.progressed", percent=25)
    player_frame(page, stack).locator("button[data-cta-id=advisor]").click()
    wait_seen(page, "video.completed")
    # Sent asynchronously: wait before closing the tab, pumping Playwright, whose route handler above
    # forwards each request (stack.wait_for sleeps, and would stall it).
    for _ in range(150):
        if has("video.completed")(stack.events(org)):
            break
        page.wait_for_timeout(200)
    context.close()
    assert browse.errors == []

    # 2. A legacy Individeo post and a native sender, each trying to smuggle the secrets in.
    headers = {"User-Agent": USER_AGENT, "X-Forwarded-For": CLIENT_IP, "X-Real-IP": CLIENT_IP}
    legacy = httpx.post(f"{stack.gateway}/api/indiTrack", params={"evt": "onCTA"}, headers=headers, json={
        "event": "onCTA", "trackerKey": "tk-privacy", "trackerGroupKey": GROUP_KEY, "ctaName": "Simulate",
        "recipientCode": RECIPIENT, "ip": CLIENT_IP, "userAgent": USER_AGENT})
    assert legacy.status_code == 202 and legacy.json()["accepted"] == 1
    token = issue_token(stack.settings.token_keys, org, "spring-campaign")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    sent = {"event_id": str(uuid.uuid4()), "schema_version": "1", "event_type": "session.started",
            "occurred_at": now, "session_id": str(uuid.uuid4()), "viewer_hash": client_hash,
            "consent": {"tracking": True}, "recipient_code": RECIPIENT, "client_ip": CLIENT_IP}
    native = httpx.post(f"{stack.gateway}/analytics/v1/events", json=sent,
                        headers={**headers, "Authorization": f"Bearer {token}"})
    assert native.status_code == 202 and native.json()["accepted"] == 1

    # 3. Every pipeline step: raw, curated, rollups, exports of events and of report rows.
    events = stack.wait_for(org, has("video.completed", "cta.clicked"))
    assert len([e for e in events if e["event_type"] == "cta.clicked"]) == 2  # the SDK's and the legacy one
    compact(stack.store, orgs=[org])
    build_rollups(stack.store, day=datetime.now(UTC).date(), org=org)
    engine = open_engine(stack.settings, stack.store)
    for kind in ("events", "summary"):
        create_export(stack.store, engine, org, Selection(), kind=kind, actor="cli:privacy-test")
    assert list(stack.store.list(f"curated/org={org}/")) and list(stack.store.list("rollups/"))

    # 4. Search it all. The client hash is searched only where it could be: it is data, not a secret
    # everywhere, so a hit anywhere is a keyed-id failure.
    needles = {"client IP": CLIENT_IP, "User-Agent": USER_AGENT, "User-Agent token": "PercusPrivacyProbe",
               "recipient code": RECIPIENT, "client viewer hash": client_hash}
    searched = [path for path in stack.settings.data_dir.rglob("*") if path.is_file()] + [logs]
    assert any(path.suffix == ".seg" or "queue" in path.parts for path in searched)
    for path in searched:
        content = _readable(path)
        for name, needle in needles.items():
            assert needle.encode() not in content, f"the {name} is in {path}"
    keyed = {e["viewer_hash"] for e in events if e.get("viewer_hash")}
    assert keyed and client_hash not in keyed  # viewer ids were stored, keyed
