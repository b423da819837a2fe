"""The canonical event as a JSON Schema document, for docs/schema/ and for client authors."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from translator.canonical import SCHEMA_VERSION, CanonicalEvent


def event_json_schema() -> dict[str, Any]:
    schema = TypeAdapter(CanonicalEvent).json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://percus.cl/schemas/analytics/event-v{SCHEMA_VERSION}.json",
        "title": f"Percus analytics canonical event, schema_version {SCHEMA_VERSION}",
        **schema,
    }
