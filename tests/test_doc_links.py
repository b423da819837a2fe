"""Every relative link in the Markdown docs names a file or folder that exists: modules move, and a
newcomer following docs/architecture.md should never land on a 404."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted([*REPO.glob("*.md"), *REPO.glob("docs/**/*.md"), *REPO.glob("deploy/*.md")])
_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(REPO)))
def test_relative_links_resolve(doc: Path) -> None:
    targets = [target for target in _LINK.findall(doc.read_text()) if "://" not in target
               and not target.startswith(("mailto:", "/"))]
    missing = [target for target in targets if not (doc.parent / target).exists()]
    assert missing == [], f"{doc.relative_to(REPO)} links to what does not exist: {missing}"
