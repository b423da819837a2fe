"""The examples of docs/testing-your-embed.md run as a customer runs them: the pytest one with its own
pytest settings and the percus_micro fixture from the installed plugin, the Playwright Test one with
`npx playwright test` from its own npm lock, both in Debian's Chromium; and the page shows them as
they are in examples/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.conftest import CHROMIUM
from percus.testing import MicroClient

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GUIDE = ROOT / "docs" / "testing-your-embed.md"


def run(command: list[str], cwd: Path, **env: str) -> None:
    done = subprocess.run(command, cwd=cwd, env={**os.environ, "CHROMIUM_PATH": CHROMIUM, **env},
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"


def test_the_pytest_example_passes() -> None:
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], EXAMPLES / "pytest")


def test_the_playwright_test_example_passes(percus_micro: MicroClient) -> None:
    project = EXAMPLES / "playwright-test"
    if not (project / "node_modules" / ".installed").exists():
        pytest.fail("examples/playwright-test has no node_modules: run `make node`")
    run(["npx", "--no-install", "playwright", "test", "--output", str(project / "test-results")], project,
        PERCUS_MICRO_URL=percus_micro.url)


@pytest.mark.parametrize("example", ["pytest/test_offer_page.py", "playwright-test/offer.spec.ts",
                                     "playwright-test/playwright.config.ts"])
def test_the_guide_shows_each_example_as_it_is(example: str) -> None:
    blocks = re.findall(r"```\w*\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    assert (EXAMPLES / example).read_text() in blocks, f"docs/testing-your-embed.md: paste {example} again"
