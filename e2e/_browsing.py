"""What a test's browser did (requests, console), and waiting on what the host page saw.

The pages of e2e/pages record what their own `Percus.on("*")` subscriber saw in `window.seen`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import BrowserContext, ConsoleMessage, FrameLocator, Page
from playwright.sync_api import Request as BrowserRequest

from e2e._stack import Stack


@dataclass
class Browsing:
    """A browser context and what its pages did."""

    context: BrowserContext
    requests: list[BrowserRequest] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)  # the browser's own network log
    failing_requests_expected: bool = False

    def open(self, url: str) -> Page:
        page = self.context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.goto(url)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        if message.text.startswith("Failed to load resource:"):
            self.failed_requests.append(message.text)
        else:
            self.errors.append(f"console.error: {message.text}")

    def urls(self, contains: str) -> list[str]:
        return [request.url for request in self.requests if contains in request.url]

    def posts(self, contains: str) -> list[BrowserRequest]:
        return [request for request in self.requests if request.method == "POST" and contains in request.url]

    def posted_events(self, page: Page, contains: str, covering: set[str]) -> list[dict[str, Any]]:
        """The events of every POST to `contains`, once they include the ids `covering`.

        The browser reports requests asynchronously: one the gateway already answered may not have
        reached this process yet, so wait for it (Playwright delivers events while it waits).
        """
        deadline = time.monotonic() + 15
        while True:
            events = [event for request in self.posts(contains)
                      for event in json.loads(request.post_data or "{}")["events"]]
            if covering <= {event["event_id"] for event in events} or time.monotonic() > deadline:
                return events
            page.wait_for_timeout(50)


def wait_seen(page: Page, event_type: str, **payload: Any) -> None:
    """Wait until the page's subscriber saw the event, with these payload values."""
    page.wait_for_function("([type, payload]) => seen.some((e) => e.type === type && "
                           "Object.entries(payload).every(([k, v]) => e.payload[k] === v))",
                           arg=[event_type, payload])


def seen(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate("seen")
    return result


def player_frame(page: Page, stack: Stack) -> FrameLocator:
    return page.frame_locator(f"iframe[src^='{stack.player}/player']")
