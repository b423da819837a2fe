"""The dashboard's data leaves archived projects out of its live and project lists (the platform's
ProjectArchived, folded in occurred_at order), and keeps their data: acme's campaigns running now
(tests/gateway/_reporting.py), one of them archived while the gateway serves."""

from __future__ import annotations

import re
from pathlib import Path

from tests.gateway._reporting import CAMPAIGN, SMALL_CAMPAIGN, open_reporting
from tests.pipeline._platform import describe

ROWS = re.compile(r'<tr data-project="([^"]+)">')
MARKED = re.compile(r'<tr data-project="([^"]+)">(?:(?!</tr>).)*?data-archived>', re.S)


def test_an_archived_campaign_leaves_the_live_and_project_lists(tmp_path: Path) -> None:
    with open_reporting(tmp_path) as own:
        signed = own.client.post("/dashboard/sign-in", data={"key": own.keys.acme}, follow_redirects=False)
        assert signed.status_code == 303

        def listed(query: str = "") -> list[str]:
            page = own.client.get(f"/dashboard/orgs/acme{query}")
            assert page.status_code == 200
            return ROWS.findall(page.text)

        assert listed().count(SMALL_CAMPAIGN) == 2  # running now: in the live table and the 30-day list
        describe(own.store, "acme", archived=[SMALL_CAMPAIGN])
        shown = listed()
        assert SMALL_CAMPAIGN not in shown and shown.count(CAMPAIGN) == 2
        # Archiving deletes nothing: the project's own page still shows its numbers.
        page = own.client.get(f"/dashboard/orgs/acme/projects/{SMALL_CAMPAIGN}")
        assert page.status_code == 200 and SMALL_CAMPAIGN in page.text
        # The page's own switch lists them again, marked.
        assert "?include_archived=true" in own.client.get("/dashboard/orgs/acme").text
        assert listed("?include_archived=true").count(SMALL_CAMPAIGN) == 2
        page = own.client.get("/dashboard/orgs/acme?include_archived=true").text
        marked = MARKED.findall(page)
        assert marked.count(SMALL_CAMPAIGN) == 2 and CAMPAIGN not in marked
        assert "Hide archived projects" in page
        refused = own.client.get("/dashboard/orgs/acme?include_archived=maybe")
        assert refused.status_code == 400 and "include_archived must be true or false" in refused.text
