"""docs/sdk.md and docs/player-protocol.md name everything the tables say the SDK and player handle."""

from __future__ import annotations

from pathlib import Path

from translator.canonical import EVENT_TYPES
from translator.js_tables import export_tables

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_sdk_page_documents_every_embed_attribute() -> None:
    text = (DOCS / "sdk.md").read_text()
    missing = [a["name"] for a in export_tables()["percus_attributes"] if f"`{a['name']}`" not in text]
    assert missing == []


def test_the_protocol_page_documents_every_event_a_player_or_the_sdk_raises() -> None:
    text = (DOCS / "player-protocol.md").read_text() + (DOCS / "sdk.md").read_text()
    names = [e["name"] for e in export_tables()["player_events"]] + list(EVENT_TYPES)
    assert [name for name in names if f"`{name}`" not in text] == []
