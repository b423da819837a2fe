"""The storage layout is one table (pipeline/layout.py): no other product module spells a zone's prefix."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pipeline import layout

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("translator", "pipeline", "gateway", "percus", "js", "deploy")
ROOTS = tuple(sorted({area.prefix.split("/", 1)[0] + "/" for area in layout.AREAS}))


def spelled_prefixes(path: Path) -> list[tuple[int, str]]:
    """String literals (f-strings' parts included) that start with a zone's root, docstrings aside."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)}
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                and node.value.startswith(ROOTS)):
            found.append((node.lineno, node.value))
    return found


def test_the_roots_are_known() -> None:
    assert ROOTS == ("audiences/", "audit/", "config/", "curated/", "dims/", "exports/", "outcomes/",
                     "quarantine/", "raw/", "rollups/", "state/")


@pytest.mark.parametrize("package", PRODUCT)
def test_no_module_but_the_layout_spells_a_zone_prefix(package: str) -> None:
    spelled = {str(path.relative_to(REPO)): found for path in sorted((REPO / package).rglob("*.py"))
               if path != REPO / "pipeline" / "layout.py" and (found := spelled_prefixes(path))}
    assert spelled == {}


def test_the_detector_sees_a_spelled_prefix(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('"""raw/ in a docstring is prose."""\nA = "state/x/"\nB = f"curated/org={A}/"\n')
    assert spelled_prefixes(module) == [(2, "state/x/"), (3, "curated/org=")]


def test_every_area_has_its_own_prefix() -> None:
    prefixes = [area.prefix for area in layout.AREAS]
    assert len(set(prefixes)) == len(prefixes)
    assert not any(a != b and a.startswith(b) for a in prefixes for b in prefixes)
    functions = {layout.INGEST, layout.API, layout.WRITER, layout.COMPACTOR, layout.ROLLUPS, layout.WEBHOOKS,
                 layout.DIGEST, layout.PLATFORM}
    assert set().union(*(area.readers | area.writers | area.deleters for area in layout.AREAS)) <= functions
