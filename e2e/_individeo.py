"""What the Individeo e2e tests share: a registered attachment, the page's `window.calls`, the console's
warnings, and the checks on what the gateway stored.

The host pages (fixtures/individeo/pages and field/) record what their own handlers saw in
`window.calls`.
"""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import ConsoleMessage, Page

from e2e._browsing import Browsing
from e2e._stack import Stack
from pipeline.governance.registry import Attachment, OrganizationRegistry

PROJECT = "pension-2026"


def register(stack: Stack, org: str, *, tracking: bool = False, consent_required: bool = True) -> str:
    """A fresh Individeo attachment code, registered to `org` as `percus legacy register` does (with
    its `--tracking` and `--consent-required` defaults)."""
    registry = OrganizationRegistry(stack.store)
    registry.create(org)
    code = f"pFXDVWQpafvjpLPutA-{uuid.uuid4().hex[:6]}"
    registry.register_attachment(Attachment(attachment_code=code, organization_id=org, project_id=PROJECT,
                                            template_id="welcome", tracking=tracking,
                                            consent_required=consent_required))
    return code


def warnings(browse: Browsing) -> list[str]:
    """Percus's console warnings on every page of the test from now on (a list that fills as they come);
    the browser's own are left out."""
    collected: list[str] = []

    def collect(message: ConsoleMessage) -> None:
        if message.type == "warning" and message.text.startswith("Percus: "):
            collected.append(message.text)

    browse.context.on("console", collect)
    return collected


def calls(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate("calls")
    return result


def wait_call(page: Page, name: str, count: int = 1) -> None:
    page.wait_for_function("([name, count]) => calls.filter((c) => c.name === name).length >= count",
                           arg=[name, count])


def names(page: Page, among: set[str]) -> list[str]:
    return [call["name"] for call in calls(page) if call["name"] in among]


def assert_stored_canonically(events: list[dict[str, Any]], org: str) -> None:
    for event in events:
        assert event["organization_id"] == org and event["project_id"] == PROJECT
        assert event["schema_version"] == "1" and event["template_id"] == "welcome"
        assert event["consent"]["tracking"] is True and event["occurred_at"].endswith("Z")
