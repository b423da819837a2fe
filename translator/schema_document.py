"""The canonical event and the platform's integration events as JSON Schema documents, for
docs/schema/ and for client authors."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from translator.canonical import SCHEMA_VERSION, CanonicalEvent
from translator.platform_events import KnownEvent


def event_json_schema() -> dict[str, Any]:
    schema = TypeAdapter(CanonicalEvent).json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://percus.cl/schemas/analytics/event-v{SCHEMA_VERSION}.json",
        "title": f"Percus analytics canonical event, schema_version {SCHEMA_VERSION}",
        **schema,
    }


def platform_event_json_schema() -> dict[str, Any]:
    """The seven integration event types this version applies; any other type is stored and ignored."""
    schema = TypeAdapter(KnownEvent).json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://percus.cl/schemas/analytics/platform-event-v1.json",
        "title": "Percus analytics: an integration event of the platform's services",
        **schema,
    }
