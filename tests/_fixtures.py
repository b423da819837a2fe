"""Recorded fixtures under fixtures/, loaded by name: the one helper every test uses for them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture_path(name: str) -> Path:
    """`name` is relative to fixtures/, e.g. "individeo/inventory.json"."""
    path = FIXTURES / name
    if not path.is_file():
        raise FileNotFoundError(f"no fixture {name!r} under {FIXTURES}")
    return path


def load_fixture(name: str) -> Any:
    """A JSON fixture decoded; any other fixture as text."""
    text = fixture_path(name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else text


def fixture_names(folder: str, suffix: str = ".json") -> list[str]:
    """Names (for `load_fixture`) of the fixtures in one folder, sorted."""
    return sorted(str(path.relative_to(FIXTURES)) for path in (FIXTURES / folder).glob(f"*{suffix}"))
