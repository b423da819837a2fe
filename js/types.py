"""percus.d.ts: TypeScript declarations of window.Percus, generated from translator's tables.

The event map comes from the canonical models (each payload's fields and their JSON types) and the
player's message table; the embed settings from the attribute table; the Individeo globals from the
compat tables. The hand-written shape of the API is js/src/percus.d.ts.j2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2

from js.attributes import TRACKING_ATTRIBUTES
from translator.canonical import EVENT_MODELS
from translator.js_tables import export_tables

TYPES_FILE = "percus.d.ts"
# The player's message fields that are not numbers (their table names fields, not types).
PLAYER_FIELD_TYPES = {"muted": "boolean"}
# The compat script's globals that hold text; the others are objects or data of the page's.
TEXT_GLOBALS = ("percusVersion", "percusSessionKey", "percusTrackerGroupKey", "percusTrackingURL",
                "PERCUS_TRACK_BASE_URL")
# Globals the template declares with their own interfaces.
TYPED_GLOBALS = ("percusPlayer", "percusModal")
_JSON_TYPES = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean",
               "null": "null"}


def ts_type(schema: dict[str, Any]) -> str:
    """A JSON Schema property (as pydantic writes it) as a TypeScript type."""
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    if "anyOf" in schema:
        return " | ".join(ts_type(option) for option in schema["anyOf"])
    if schema.get("type") in _JSON_TYPES:
        return _JSON_TYPES[schema["type"]]
    raise ValueError(f"no TypeScript type for {schema}")


def _object(fields: list[tuple[str, str, bool]]) -> str:
    declared = (f"{name}{'' if required else '?'}: {kind}" for name, kind, required in fields)
    return "{" + "; ".join(declared) + "}"


def _payloads() -> list[tuple[str, str]]:
    found = []
    for event_type, model in EVENT_MODELS.items():
        schema = model.model_fields["payload"].annotation.model_json_schema()  # type: ignore[union-attr]
        required = set(schema.get("required", ()))
        found.append((event_type, _object([(name, ts_type(prop), name in required)
                                           for name, prop in schema.get("properties", {}).items()])))
    return found


def _settings(tables: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """Each setting: its name, its type, and whether only the tracking module parses it (so it is
    there only once the embed is tracked)."""
    found = []
    for attribute in tables["percus_attributes"]:
        name = attribute["name"].removeprefix("data-percus-")
        camel = name.split("-")[0] + "".join(part.title() for part in name.split("-")[1:])
        if attribute["kind"] == "bool":
            kind = "boolean"
        elif attribute["kind"] == "enum":
            kind = " | ".join(json.dumps(choice) for choice in attribute["choices"])
        else:
            kind = "string" if attribute["default"] is not None else "string | null"
        found.append((camel, kind, attribute["name"] in TRACKING_ATTRIBUTES))
    return found


def render_types() -> str:
    tables = export_tables()
    player = [(event["name"], _object([(field, PLAYER_FIELD_TYPES.get(field, "number"), True)
                                       for field in event["fields"]]))
              for event in tables["player_events"]]
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "src"),
                                     autoescape=False, undefined=jinja2.StrictUndefined,
                                     keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    return environment.get_template(f"{TYPES_FILE}.j2").render(
        payloads=_payloads(), player_events=player, settings=_settings(tables),
        globals=[(g["legacy"], g["percus"], g["note"], "string" if g["percus"] in TEXT_GLOBALS else "unknown")
                 for g in tables["globals"] if g["percus"] and g["percus"] not in TYPED_GLOBALS],
        constants=tables["blueplayer_constants"],
        player_methods=[method["name"] for method in tables["player_methods"]], json=json.dumps)
