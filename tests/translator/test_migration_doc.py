"""docs/migration-from-individeo.md: its generated tables are in sync with translator/."""

from __future__ import annotations

from pathlib import Path

import pytest

from translator.individeo_attributes import INDIVIDEO_ATTRIBUTES
from translator.individeo_callbacks import CALLBACKS
from translator.individeo_constants import BLUEPLAYER_CONSTANTS
from translator.individeo_globals import GLOBALS
from translator.individeo_wire import WIRE_EVENTS
from translator.migration_doc import BEGIN, END, describe_trigger, render_tables, sync_document

DOC = Path(__file__).resolve().parents[2] / "docs" / "migration-from-individeo.md"


def test_the_committed_document_is_in_sync() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert sync_document(text) == text, "regenerate it with `percus docs`"


def test_the_tables_name_every_entry_and_its_mapping() -> None:
    tables = render_tables()
    for attribute in INDIVIDEO_ATTRIBUTES:
        assert f"`data-iv-{attribute.name}` / `data-bp-{attribute.name}`" in tables
    for entry in GLOBALS:
        assert f"`window.{entry.legacy}`" in tables
    for entry in CALLBACKS:
        assert f"| `{entry.name}` | {describe_trigger(entry.trigger)} |" in tables
    for constant in BLUEPLAYER_CONSTANTS:
        assert f"| `BluePlayer.{constant.name}` | `\"{constant.value}\"` | `{constant.callback}` |" in tables
    for wire in WIRE_EVENTS:
        assert f"| `{wire.name}` | {f'`{wire.event_type}`' if wire.event_type else 'audited'} |" in tables


def test_sync_replaces_only_the_generated_block() -> None:
    stale = f"# Title\n\nprose stays\n\n{BEGIN}\n| old | table |\n{END}\n\ntrailer stays\n"
    synced = sync_document(stale)
    assert "| old | table |" not in synced
    assert synced.startswith("# Title\n\nprose stays\n\n") and synced.endswith(f"{END}\n\ntrailer stays\n")
    assert render_tables() in synced
    assert sync_document(synced) == synced


@pytest.mark.parametrize("text", ["no markers", f"{END}\n{BEGIN}\n", f"{BEGIN} only"])
def test_sync_refuses_a_document_without_its_markers_in_order(text: str) -> None:
    with pytest.raises(ValueError, match="GENERATED TABLES"):
        sync_document(text)


def test_triggers_read_as_sentences() -> None:
    by_name = {c.name: c.trigger for c in CALLBACKS}
    assert describe_trigger(by_name["onFirstQuartileComplete"]) == "`video.progressed` with percent = 25"
    assert describe_trigger(by_name["onAutoplay"]) == (
        "the first `video.played` of the player, when option `autoplay` is on")
    assert describe_trigger(by_name["onReplay"]) == "the first `video.played` after each `video.completed`"
    assert describe_trigger(by_name["onEnterFrame"]) == "no-op stub (never fires)"
