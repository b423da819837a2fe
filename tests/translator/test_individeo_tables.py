"""The Individeo tables: they cover the field inventory, every relation is defined, and every entry
round-trips through the export the JS build reads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests._fixtures import load_fixture
from translator.canonical import EVENT_MODELS, EVENT_TYPES, NAME_MAX_CHARS
from translator.embed_attributes import (
    FALSE_WORDS,
    PERCUS_ATTRIBUTES,
    TRUE_WORDS,
    PercusAttribute,
    Value,
    parse_value,
    percus_attribute,
)
from translator.individeo_attributes import (
    INDIVIDEO_ATTRIBUTES,
    PLAYER_OPTIONS,
    PREFIXES,
    IndivideoAttribute,
    PlayerOption,
    individeo_attribute,
)
from translator.individeo_callbacks import (
    CALLBACKS,
    PLAYER_EVENTS,
    PLAYER_MESSAGE_FIELDS,
    Callback,
    PlayerEvent,
    Trigger,
    callback,
    legacy_payload_fields,
)
from translator.individeo_constants import BLUEPLAYER_CONSTANTS, BluePlayerConstant
from translator.individeo_globals import GLOBALS, PLAYER_METHODS, Global, PlayerMethod
from translator.individeo_wire import CONTEXT_FIELDS, WIRE_EVENTS, ContextField, WireEvent
from translator.js_tables import export_tables

INVENTORY = load_fixture("individeo/inventory.json")
EXPORT = export_tables()
PLAYER_EVENT_FIELDS = {event.name: set(event.fields) for event in PLAYER_EVENTS}


def payload_fields(event_type: str) -> set[str]:
    return set(EVENT_MODELS[event_type].model_fields["payload"].annotation.model_fields)  # type: ignore[union-attr]


def value_from(row: dict[str, Any]) -> Value:
    return Value(row["kind"], row["default"], row["empty"], tuple(row["choices"]),
                 tuple(row["aliases"].items()))


def row(table: str, key: str, name: str) -> dict[str, Any]:
    [found] = [r for r in EXPORT[table] if r[key] == name]
    return found


# The field inventory, written independently of the tables, is fully known to them.

def test_every_inventoried_attribute_is_known_with_both_prefixes() -> None:
    assert tuple(INVENTORY["prefixes"]) == PREFIXES
    for name in INVENTORY["attributes"]:
        for prefix in PREFIXES:
            assert individeo_attribute(prefix + name) is not None, prefix + name
    assert len(INDIVIDEO_ATTRIBUTES) == len(INVENTORY["attributes"])


def test_every_inventoried_global_aliases_its_percus_global() -> None:
    aliases = {g.legacy: g.percus for g in GLOBALS if g.percus}
    assert aliases == INVENTORY["globals"]
    assert {g.legacy for g in GLOBALS if g.percus is None} == set(INVENTORY["page_objects"])
    assert [m.name for m in PLAYER_METHODS] == INVENTORY["player_methods"]


def test_the_minimum_callback_set_is_supported_not_stubbed() -> None:
    for name in INVENTORY["callbacks_minimum"]:
        found = callback(name)
        assert found is not None and found.trigger is not None, name


def test_the_blueplayer_constants_are_exactly_the_inventory() -> None:
    assert sorted(c.name for c in BLUEPLAYER_CONSTANTS) == sorted(INVENTORY["blueplayer_constants"])


def test_the_wire_whitelist_is_exactly_the_inventory() -> None:
    assert [w.name for w in WIRE_EVENTS] == INVENTORY["wire_events"]


# Every relation is defined and points at something that exists.

def test_names_are_unique_in_every_table() -> None:
    for names in ([a.name for a in INDIVIDEO_ATTRIBUTES], [a.name for a in PERCUS_ATTRIBUTES],
                  [o.name for o in PLAYER_OPTIONS], [g.legacy for g in GLOBALS], [c.name for c in CALLBACKS],
                  [c.name for c in BLUEPLAYER_CONSTANTS], [c.value for c in BLUEPLAYER_CONSTANTS],
                  [e.name for e in PLAYER_EVENTS], [w.name.lower() for w in WIRE_EVENTS]):
        assert len(names) == len(set(names))


@pytest.mark.parametrize("attribute", INDIVIDEO_ATTRIBUTES, ids=lambda a: a.name)
def test_every_individeo_attribute_targets_a_percus_attribute_or_a_player_option(
        attribute: IndivideoAttribute) -> None:
    if attribute.target_kind == "attribute":
        assert percus_attribute(attribute.target) is not None
    else:
        assert attribute.target in {o.name for o in PLAYER_OPTIONS}


@pytest.mark.parametrize("spec", [*PERCUS_ATTRIBUTES, *PLAYER_OPTIONS], ids=lambda s: s.name)
def test_every_default_is_a_value_of_its_kind(spec: PercusAttribute | PlayerOption) -> None:
    value = spec.value
    expected_type = {"bool": bool, "enum": str}.get(value.kind, str)
    assert value.default is None or isinstance(value.default, expected_type)
    assert value.empty is None or isinstance(value.empty, expected_type)
    if value.kind == "enum":
        assert value.default in value.choices
        assert all(choice in value.choices for _, choice in value.aliases)
    assert spec.note


@pytest.mark.parametrize("entry", CALLBACKS, ids=lambda c: c.name)
def test_every_callback_fires_on_a_known_event_or_is_a_documented_stub(entry: Callback) -> None:
    assert entry.name.startswith("on")
    if entry.trigger is None:
        assert entry.note, "a stub says why it never fires"
        return
    event = entry.trigger.event
    assert event in EVENT_TYPES or event in PLAYER_EVENT_FIELDS
    known = payload_fields(event) if event in EVENT_TYPES else PLAYER_EVENT_FIELDS[event]
    for field, _ in entry.trigger.match:
        assert field in known | set(PLAYER_MESSAGE_FIELDS.get(event, ())), field
    if entry.trigger.option:
        option = next(o for o in PLAYER_OPTIONS if o.name == entry.trigger.option)
        assert option.value.kind == "bool"


@pytest.mark.parametrize("constant", BLUEPLAYER_CONSTANTS, ids=lambda c: c.name)
def test_every_constant_fires_with_a_callback_of_its_own_name(constant: BluePlayerConstant) -> None:
    assert callback(constant.callback) is not None
    assert constant.callback.lower() == constant.value.lower()


def test_every_player_event_has_a_callback() -> None:
    fired = {c.trigger.event for c in CALLBACKS if c.trigger}
    assert set(PLAYER_EVENT_FIELDS) <= fired


@pytest.mark.parametrize("wire", WIRE_EVENTS, ids=lambda w: w.name)
def test_every_wire_event_maps_to_a_canonical_event_or_is_audited(wire: WireEvent) -> None:
    if wire.event_type is None:
        assert wire.consent_tracking is None and not wire.fields and wire.note
        return
    assert wire.event_type in EVENT_TYPES
    assert wire.consent_tracking is (wire.event_type != "consent.declined")
    known = payload_fields(wire.event_type)
    assert {canonical for _, canonical in wire.fields} <= known
    if wire.identity:
        assert wire.identity[1] in known and wire.identity[0] in dict(wire.fields)


def test_legacy_handler_fields_come_from_real_payload_fields() -> None:
    fields = legacy_payload_fields()
    assert fields["cta.clicked"] == (("ctaName", "cta_name"), ("ctaValue", "cta_value"))
    for event_type, pairs in fields.items():
        assert {canonical for _, canonical in pairs} <= payload_fields(event_type)


# Every entry round-trips through the export.

def test_the_export_is_deterministic_json() -> None:
    text = json.dumps(export_tables(), ensure_ascii=False)
    assert json.loads(text) == EXPORT
    assert json.dumps(export_tables(), ensure_ascii=False) == text


def test_the_export_carries_the_canonical_schema_facts() -> None:
    assert EXPORT["event_types"] == list(EVENT_TYPES)
    assert EXPORT["name_max_chars"] == NAME_MAX_CHARS == 64
    assert EXPORT["individeo_prefixes"] == list(PREFIXES)


def test_the_exported_value_words_are_the_ones_the_parser_reads() -> None:
    boolean = Value("bool", default=None)
    for word in EXPORT["boolean_words"]["true"]:
        assert parse_value(boolean, word.upper(), name="x").value is True
    for word in EXPORT["boolean_words"]["false"]:
        assert parse_value(boolean, word, name="x").value is False
    assert (tuple(EXPORT["boolean_words"]["true"]), tuple(EXPORT["boolean_words"]["false"])) == (
        TRUE_WORDS, FALSE_WORDS)


@pytest.mark.parametrize("attribute", PERCUS_ATTRIBUTES, ids=lambda a: a.name)
def test_percus_attribute_round_trips(attribute: PercusAttribute) -> None:
    exported = row("percus_attributes", "name", attribute.name)
    assert PercusAttribute(exported["name"], value_from(exported), exported["note"]) == attribute


@pytest.mark.parametrize("option", PLAYER_OPTIONS, ids=lambda o: o.name)
def test_player_option_round_trips(option: PlayerOption) -> None:
    exported = row("player_options", "name", option.name)
    rebuilt = PlayerOption(exported["name"], value_from(exported), exported["note"], exported["ignored"])
    assert rebuilt == option


@pytest.mark.parametrize("attribute", INDIVIDEO_ATTRIBUTES, ids=lambda a: a.name)
def test_individeo_attribute_round_trips_under_both_prefixes(attribute: IndivideoAttribute) -> None:
    for name in attribute.names:
        exported = row("individeo_attributes", "name", name)
        assert IndivideoAttribute(exported["base"], exported["target"], exported["note"],
                                  exported["caveat"]) == attribute
        assert exported["target_kind"] == attribute.target_kind


@pytest.mark.parametrize("entry", GLOBALS, ids=lambda g: g.legacy)
def test_global_round_trips(entry: Global) -> None:
    assert Global(**row("globals", "legacy", entry.legacy)) == entry


@pytest.mark.parametrize("method", PLAYER_METHODS, ids=lambda m: m.name)
def test_player_method_round_trips(method: PlayerMethod) -> None:
    assert PlayerMethod(**row("player_methods", "name", method.name)) == method


@pytest.mark.parametrize("event", PLAYER_EVENTS, ids=lambda e: e.name)
def test_player_event_round_trips(event: PlayerEvent) -> None:
    exported = row("player_events", "name", event.name)
    assert PlayerEvent(exported["name"], tuple(exported["fields"]), exported["note"]) == event


@pytest.mark.parametrize("entry", CALLBACKS, ids=lambda c: c.name)
def test_callback_round_trips(entry: Callback) -> None:
    exported = row("callbacks", "name", entry.name)
    found = exported["trigger"]
    trigger = found and Trigger(found["event"], tuple(found["match"].items()), found["occurrence"],
                                found["option"])
    assert Callback(exported["name"], trigger, exported["note"]) == entry


def test_callbacks_keep_their_firing_order_in_the_export() -> None:
    assert [c["name"] for c in EXPORT["callbacks"]] == [c.name for c in CALLBACKS]


@pytest.mark.parametrize("constant", BLUEPLAYER_CONSTANTS, ids=lambda c: c.name)
def test_blueplayer_constant_round_trips(constant: BluePlayerConstant) -> None:
    assert BluePlayerConstant(**row("blueplayer_constants", "name", constant.name)) == constant


@pytest.mark.parametrize("wire", WIRE_EVENTS, ids=lambda w: w.name)
def test_wire_event_round_trips(wire: WireEvent) -> None:
    exported = row("wire_events", "evt", wire.name)
    rebuilt = WireEvent(exported["evt"], exported["event_type"],
                        tuple(exported["identity"]) if exported["identity"] else None,
                        tuple(exported["fields"].items()), exported["consent_tracking"], exported["note"])
    assert rebuilt == wire


@pytest.mark.parametrize("field", CONTEXT_FIELDS, ids=lambda c: c.legacy)
def test_wire_context_field_round_trips(field: ContextField) -> None:
    assert ContextField(**row("wire_context_fields", "legacy", field.legacy)) == field


def test_legacy_payload_fields_round_trip() -> None:
    exported = EXPORT["legacy_payload_fields"]
    assert {k: tuple(v.items()) for k, v in exported.items()} == legacy_payload_fields()
