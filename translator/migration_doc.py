"""The generated tables of docs/migration-from-individeo.md, rendered from the translator tables.

Pure: `render_tables()` returns the Markdown, `sync_document(text)` returns the document with its
generated block replaced. `percus docs` writes the file; a test keeps the committed copy in sync.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from translator.embed_attributes import PERCUS_ATTRIBUTES, Value
from translator.generated_block import replace_block
from translator.individeo_attributes import INDIVIDEO_ATTRIBUTES, PLAYER_OPTIONS, attribute_caveat
from translator.individeo_callbacks import CALLBACKS, PLAYER_EVENTS, Trigger, callback, legacy_payload_fields
from translator.individeo_constants import BLUEPLAYER_CONSTANTS
from translator.individeo_globals import GLOBALS, PLAYER_METHODS
from translator.individeo_wire import CONTEXT_FIELDS, WIRE_EVENTS

BEGIN = "<!-- BEGIN GENERATED TABLES (written by `percus docs` from translator/; do not edit) -->"
END = "<!-- END GENERATED TABLES -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "—"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _code(value: Any) -> str:
    if value is None:
        return ""
    return f"`{value}`" if isinstance(value, str) else f"`{json.dumps(value)}`"


def _kind(value: Value) -> str:
    return f"enum: {', '.join(value.choices)}" if value.kind == "enum" else value.kind


def _empty(value: Value) -> str:
    return "as if absent" if value.empty is None else _code(value.empty)


def describe_trigger(trigger: Trigger | None) -> str:
    if trigger is None:
        return "no-op stub (never fires)"
    text = f"`{trigger.event}`"
    if trigger.match:
        text += " with " + " and ".join(f"{key} = {json.dumps(value)}" for key, value in trigger.match)
    if trigger.occurrence == "first":
        text = f"the first {text} of the player"
    elif trigger.occurrence == "after_completed":
        text = f"the first {text} after each `video.completed`"
    if trigger.option:
        text += f", when option `{trigger.option}` is on"
    return text


def _sentences(*texts: str) -> str:
    return " ".join(text for text in texts if text)


def _target(target: str, kind: str) -> str:
    return f"`{target}`" if kind == "attribute" else f"player option `{target}`"


def _sections() -> Iterator[tuple[str, str, list[str], Iterable[Sequence[str]]]]:
    """(title, introduction, header, rows) of each table, in document order."""
    yield ("Script-tag attributes",
           "Each is read with either prefix; when a tag has both, `data-iv-` wins. Values are read "
           "leniently: booleans accept true/false, 1/0, yes/no, on/off in any case; a bad value is a "
           "console warning and the default, never an error.",
           ["Individeo attribute", "Becomes", "Note"],
           ([" / ".join(f"`{name}`" for name in a.names), _target(a.target, a.target_kind),
             _sentences(a.note, attribute_caveat(a))] for a in INDIVIDEO_ATTRIBUTES))
    yield ("Percus embed attributes", "The attributes of a native embed, as the compat script sets them.",
           ["Attribute", "Value", "Default", "Written empty", "Note"],
           ([f"`{a.name}`", _kind(a.value), _code(a.value.default), _empty(a.value), a.note]
            for a in PERCUS_ATTRIBUTES))
    yield ("Player options", "Settings the compat script hands to the player and the SDK.",
           ["Option", "Value", "Default", "Note"],
           ([f"`{o.name}`", _kind(o.value), _code(o.value.default), _sentences(o.note, o.ignored)]
            for o in PLAYER_OPTIONS))
    yield ("Window globals", "Each legacy global is a getter/setter over the Percus one.",
           ["Individeo global", "Percus global", "Note"],
           ([f"`window.{g.legacy}`", f"`window.{g.percus}`" if g.percus else "provided by the compat script",
             _sentences(g.note, g.caveat)] for g in GLOBALS))
    yield ("Player methods", "Methods of the player object handed to `on-ready` (also `BluePlayer.current`).",
           ["Method", "Percus", "Note"],
           ([f"`{m.name}()`", m.percus, m.note] for m in PLAYER_METHODS))
    yield ("Callbacks", "Callbacks that share a trigger fire in this order.",
           ["Callback", "Fires on", "Note"],
           ([f"`{c.name}`", describe_trigger(c.trigger), c.note] for c in CALLBACKS))
    yield ("BluePlayer constants", "`BEM.bind(BluePlayer.X, fn(e, p))` fires with the row's callback.",
           ["Constant", "Value", "Callback", "Fires on"],
           ([f"`BluePlayer.{c.name}`", f'`"{c.value}"`', f"`{c.callback}`",
             describe_trigger(_callback_trigger(c.callback))] for c in BLUEPLAYER_CONSTANTS))
    yield ("Player events",
           "Local events of the Percus player and SDK: delivered to the page, never sent to the gateway.",
           ["Event", "Fields", "Note"],
           ([f"`{e.name}`", ", ".join(e.fields), e.note] for e in PLAYER_EVENTS))
    yield ("Fields handed to legacy handlers", "Besides the player, the `p` of a handler carries these.",
           ["Canonical event", "Field of `p`", "From payload field"],
           ([f"`{event_type}`", f"`{legacy}`", f"`{canonical}`"]
            for event_type, pairs in legacy_payload_fields().items() for legacy, canonical in pairs))
    yield ("Wire events (`indiTrack`)",
           "What `POST /api/indiTrack?evt=TYPE` stores for each whitelisted TYPE. \"Audited\": accepted "
           "(202, `\"audited\": true`) and written to the gateway's log as organization and event name "
           "only; no engagement event, no content stored.",
           ["evt", "Canonical event", "Body fields → payload", "consent.tracking", "Note"],
           ([f"`{w.name}`", f"`{w.event_type}`" if w.event_type else "audited",
             _wire_fields(w.identity, w.fields), _code(w.consent_tracking), w.note] for w in WIRE_EVENTS))
    yield ("Wire context fields", "Read from any post; every other body field is dropped.",
           ["Body field", "Canonical field", "Note"],
           ([f"`{c.legacy}`", f"`{c.canonical}`", c.note] for c in CONTEXT_FIELDS))


def render_tables() -> str:
    return "\n\n".join(f"### {title}\n\n{intro}\n\n{_table(header, rows)}"
                       for title, intro, header, rows in _sections())


def _callback_trigger(name: str) -> Trigger | None:
    found = callback(name)
    return found.trigger if found else None


def _wire_fields(identity: tuple[str, str] | None, fields: tuple[tuple[str, str], ...]) -> str:
    parts = [f"`{identity[0]}` → `{identity[1]}` (required)"] if identity else []
    parts += [f"`{legacy}` → `{canonical}`" for legacy, canonical in fields]
    return ", ".join(parts)


def sync_document(text: str) -> str:
    """`text` with the block between the markers replaced by the current tables."""
    return replace_block(text, BEGIN, END, f"\n{render_tables()}\n\n")
