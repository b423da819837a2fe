"""Anchored patterns are matched whole: Python's `$` also matches before a final newline, so
`re.match(r"^[a-z]+$", "evil\n")` accepts an id that becomes a file name or is echoed back."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted(path for package in ("translator", "pipeline", "gateway", "percus")
                 for path in (REPO / package).rglob("*.py") if path.name != "__main__.py")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: str(path.relative_to(REPO)))
def test_patterns_anchored_at_the_end_are_only_ever_full_matched(source: Path) -> None:
    module = importlib.import_module(_module(source))
    anchored = [name for name, value in vars(module).items()
                if isinstance(value, re.Pattern) and str(value.pattern).endswith("$")]
    text = source.read_text()
    partial = [name for name in anchored if re.search(rf"\b{name}\.(match|search)\(", text)]
    assert partial == [], f"{source.relative_to(REPO)}: use fullmatch for {partial}"


def test_the_check_sees_the_id_rule() -> None:
    from translator import ids

    assert isinstance(ids._SLUG, re.Pattern) and ids._SLUG.pattern.endswith("$")
