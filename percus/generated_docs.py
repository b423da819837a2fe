"""Documents generated from the code (`percus docs`); a test keeps the committed copies in sync."""

from __future__ import annotations

import json
from pathlib import Path

from gateway import metrics as server_metrics
from percus.cli import build_parser, reference
from pipeline.reporting import metrics
from translator.migration_doc import sync_document
from translator.schema_document import event_json_schema, platform_event_json_schema

REPO = Path(__file__).resolve().parents[1]


def generated_documents() -> dict[Path, str]:
    """Repository path → the content it must have."""
    migration = REPO / "docs/migration-from-individeo.md"
    operations = REPO / "docs/operations.md"
    return {
        REPO / "docs/schema/event-v1.json": json.dumps(event_json_schema(), indent=2, sort_keys=True) + "\n",
        REPO / "docs/schema/platform-event-v1.json":
            json.dumps(platform_event_json_schema(), indent=2, sort_keys=True) + "\n",
        migration: sync_document(migration.read_text()),
        REPO / "docs/metrics.md": metrics.sync_document((REPO / "docs/metrics.md").read_text()),
        operations: server_metrics.sync_document(operations.read_text()),
        REPO / "docs/command-line.md": reference.document(build_parser()),
    }


def stale_documents() -> list[Path]:
    return [path for path, text in generated_documents().items()
            if not path.exists() or path.read_text() != text]


def write_documents() -> list[Path]:
    written = stale_documents()
    for path, text in generated_documents().items():
        if path in written:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return written
