"""Everything the JS build needs from translator/, as one JSON-serialisable structure.

The browser scripts are generated from this, never from hand-copied lists. Lists keep table order
(it carries meaning: precedence, firing order), so the output is the same on every run.
"""

from __future__ import annotations

from typing import Any

from translator.canonical import (
    CONSENT_FREE_TYPES,
    EVENT_TYPES,
    LOCALE_MAX_CHARS,
    LOCALE_PATTERN,
    NAME_FIELDS,
    NAME_MAX_CHARS,
    SCHEMA_VERSION,
)
from translator.embed_attributes import (
    FALSE_WORDS,
    FUNCTION_NAME,
    KINDS,
    PERCUS_ATTRIBUTES,
    TRUE_WORDS,
    Value,
)
from translator.individeo_attributes import INDIVIDEO_ATTRIBUTES, PLAYER_OPTIONS, PREFIXES
from translator.individeo_callbacks import (
    CALLBACKS,
    OCCURRENCES,
    PLAYER_EVENTS,
    PLAYER_MESSAGE_FIELDS,
    Trigger,
    legacy_payload_fields,
)
from translator.individeo_constants import BLUEPLAYER_CONSTANTS
from translator.individeo_globals import GLOBALS, PLAYER_METHODS
from translator.individeo_wire import CONTEXT_FIELDS, WIRE_EVENTS

EXPORT_VERSION = 1  # bump when a consumer must change to read the structure


def _value(value: Value) -> dict[str, Any]:
    return {"kind": value.kind, "default": value.default, "empty": value.empty,
            "choices": list(value.choices), "aliases": dict(value.aliases)}


def _trigger(trigger: Trigger | None) -> dict[str, Any] | None:
    if trigger is None:
        return None
    return {"event": trigger.event, "match": dict(trigger.match), "occurrence": trigger.occurrence,
            "option": trigger.option}


def export_tables() -> dict[str, Any]:
    return {
        "export_version": EXPORT_VERSION,
        "schema_version": SCHEMA_VERSION,
        "event_types": list(EVENT_TYPES),
        "consent_free_types": sorted(CONSENT_FREE_TYPES),
        "name_max_chars": NAME_MAX_CHARS,
        "name_fields": list(NAME_FIELDS),
        "locale_pattern": LOCALE_PATTERN,  # a JavaScript RegExp source too
        "locale_max_chars": LOCALE_MAX_CHARS,
        "value_kinds": list(KINDS),
        "boolean_words": {"true": list(TRUE_WORDS), "false": list(FALSE_WORDS)},
        "function_name_pattern": FUNCTION_NAME.pattern,
        "percus_attributes": [{"name": a.name, **_value(a.value), "note": a.note}
                              for a in PERCUS_ATTRIBUTES],
        "player_options": [{"name": o.name, **_value(o.value), "note": o.note, "ignored": o.ignored}
                           for o in PLAYER_OPTIONS],
        "individeo_prefixes": list(PREFIXES),
        "individeo_attributes": [
            {"name": name, "base": a.name, "target": a.target, "target_kind": a.target_kind, "note": a.note,
             "caveat": a.caveat}
            for a in INDIVIDEO_ATTRIBUTES for name in a.names
        ],
        "globals": [{"legacy": g.legacy, "percus": g.percus, "note": g.note, "caveat": g.caveat}
                    for g in GLOBALS],
        "player_methods": [{"name": m.name, "percus": m.percus, "note": m.note} for m in PLAYER_METHODS],
        "player_events": [{"name": e.name, "fields": list(e.fields), "note": e.note} for e in PLAYER_EVENTS],
        "player_message_fields": {k: list(v) for k, v in PLAYER_MESSAGE_FIELDS.items()},
        "occurrences": list(OCCURRENCES),
        "callbacks": [{"name": c.name, "trigger": _trigger(c.trigger), "note": c.note} for c in CALLBACKS],
        "blueplayer_constants": [{"name": c.name, "value": c.value, "callback": c.callback}
                                 for c in BLUEPLAYER_CONSTANTS],
        "legacy_payload_fields": {event_type: dict(pairs)
                                  for event_type, pairs in legacy_payload_fields().items()},
        "wire_events": [
            {"evt": w.name, "event_type": w.event_type,
             "identity": list(w.identity) if w.identity else None, "fields": dict(w.fields),
             "consent_tracking": w.consent_tracking, "note": w.note}
            for w in WIRE_EVENTS
        ],
        "wire_context_fields": [{"legacy": c.legacy, "canonical": c.canonical, "note": c.note}
                                for c in CONTEXT_FIELDS],
    }
