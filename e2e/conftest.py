"""Playwright for Python in Debian's Chromium, one browser for the package, against the e2e stack.

Package scope, not session: the sync API keeps an event loop running in the main thread while it
is open, and tests elsewhere that call asyncio.run must not run inside it.

Every test gets a fresh browser context through `browse`, which records every request and console
message of every frame; at the end of each test it checks that no script logged an error or threw,
that the recipient code never left the page in any request, and that the browser reported no failed
request unless the test made the gateway fail on purpose.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from e2e._browsing import Browsing
from e2e._stack import RECIPIENT, Stack, start_stack
from pipeline.config import load_settings

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN_KEYS = "e2e:secret-for-the-end-to-end-tests"


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir: Path = tmp_path_factory.mktemp("percus-e2e")
    settings = load_settings({"PERCUS_DATA_DIR": str(data_dir), "PERCUS_TOKEN_KEYS": TOKEN_KEYS})
    yield from start_stack(settings)
    # The server side of the privacy check: nothing queued or stored holds the recipient code.
    for path in data_dir.rglob("*"):
        data = path.read_bytes() if path.is_file() else b""
        assert RECIPIENT.encode() not in (gzip.decompress(data) if path.suffix == ".gz" else data), path


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield browser
    browser.close()


@pytest.fixture
def browse(browser: Browser) -> Iterator[Browsing]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    browsing = Browsing(context)
    context.on("request", lambda request: browsing.requests.append(request))
    yield browsing
    context.close()
    assert browsing.errors == [], "a script logged an error or threw"
    if not browsing.failing_requests_expected:
        assert browsing.failed_requests == []
    for request in browsing.requests:
        assert RECIPIENT not in request.url, f"the recipient code left the page: {request.url}"
        assert RECIPIENT not in (request.post_data or ""), f"the recipient code left the page: {request.url}"
