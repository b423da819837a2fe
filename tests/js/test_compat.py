"""percus-individeo-compat.js is generated from translator's tables, and reads them as translator does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from js import build
from js.build import build_bundles, render, version_of
from js.compat import compat_context
from translator.individeo_attributes import INDIVIDEO_ATTRIBUTES, resolve_attributes, target_value
from translator.individeo_constants import CURRENT
from translator.individeo_globals import BUS_METHODS
from translator.js_tables import export_tables

NAME = "percus-individeo-compat.js"


@pytest.fixture(scope="module")
def source() -> str:
    return render(NAME, {"percus-tracking.js": "t", "percus-embed-sdk.js": "s"})


def literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_every_individeo_name_of_the_tables_is_in_the_script(source: str) -> None:
    tables = export_tables()
    names = ([a["name"] for a in tables["individeo_attributes"]] + [c["name"] for c in tables["callbacks"]]
             + [g["legacy"] for g in tables["globals"]] + [m["name"] for m in tables["player_methods"]]
             + [f for fields in tables["legacy_payload_fields"].values() for f in fields])
    assert [name for name in names if literal(name) not in source] == []
    constants = compat_context(tables)["constants"]
    assert constants == {c["name"]: c["value"] for c in tables["blueplayer_constants"]}
    assert literal(constants) in source


def test_each_callback_fires_on_its_trigger_under_its_name_and_its_constants_values() -> None:
    tables = export_tables()
    triggers = compat_context(tables)["triggers"]
    fired = {row[0]: (event, row) for event, rows in triggers.items() for row in rows}
    for callback in tables["callbacks"]:
        if callback["trigger"] is None:
            assert callback["name"] not in fired  # a stub: defined, never fires
            continue
        event, (_, bem_types, match, occurrence, option) = fired[callback["name"]]
        trigger = callback["trigger"]
        assert (event, match, occurrence, option) == (trigger["event"], trigger["match"],
                                                      trigger["occurrence"], trigger["option"])
        values = [c["value"] for c in tables["blueplayer_constants"] if c["callback"] == callback["name"]]
        assert bem_types[0] == callback["name"] and set(bem_types) == {callback["name"], *values}
        assert len(bem_types) == len(set(bem_types))  # ONREADY's "onReady" is triggered once
    # Callbacks sharing a trigger keep table order (onDataReady before onReady).
    order = [c["name"] for c in tables["callbacks"]]
    for rows in triggers.values():
        assert [row[0] for row in rows] == sorted((row[0] for row in rows), key=order.index)


def test_the_bus_and_the_namespace_hold_what_the_tables_name(source: str) -> None:
    assert [name for name in BUS_METHODS if f"  {name}: (" not in source] == []
    assert f"{CURRENT}: null" in source


def _text(target: str, first: bool) -> str:
    """Attribute text for `target` that parses to one value for the first candidate, another for the rest."""
    value = target_value(target)
    if value.kind == "bool":
        return str(first != bool(value.default)).lower()
    if value.kind == "enum":
        return value.choices[0] if first else value.choices[-1]
    if value.kind == "json":
        return json.dumps({"first": first})
    return "first" if first else "other"


def test_attribute_precedence_is_translators() -> None:
    context = compat_context(export_tables())
    rows = [*context["attribute_targets"], *([t, v[3]] for t, v in context["option_targets"].items())]
    for target, names in rows:
        native = [target] if target.startswith("data-percus-") else []
        table = [n for a in INDIVIDEO_ATTRIBUTES if a.target == target for n in a.names]
        assert set(names) == {*native, *table}
        given = {name: _text(target, i == 0) for i, name in enumerate(names)}
        assert resolve_attributes(given).values[target] == resolve_attributes(
            {names[0]: given[names[0]]}).values[target], target


def test_init_individeo_starts_a_waiting_player_and_personalizes_a_started_one(source: str) -> None:
    methods = compat_context(export_tables())["player_methods"]
    assert ["initIndivideo", "command", "init", "personalize"] in methods
    assert ["replay", "command", "replay"] in methods and ["play", "embed", "play"] in methods
    assert literal(methods) in source


def test_the_script_loads_the_bootstrap_by_its_current_version() -> None:
    bundles = build_bundles()
    version = version_of(bundles["percus-embed-sdk.js"])
    assert f'"{version}"' in bundles[NAME].decode() and '"percus-embed-sdk.js?v="+' in bundles[NAME].decode()


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t["globals"].pop(next(i for i, g in enumerate(t["globals"]) if g["percus"] == "percusPlayer")),
     "globals the tables do not alias"),
    (lambda t: t["player_options"].pop(0), "player options the tables lack"),
    (lambda t: t["player_options"][0].update(kind="enum"), "cannot parse kind 'enum'"),
    (lambda t: t["player_options"][-1].update(ignored=""), "the tables say the compat script acts on"),
    (lambda t: t["player_options"][0].update(ignored="no"), "the tables say the compat script acts on"),
    (lambda t: t["player_methods"].append({"name": "seek", "percus": "Percus.seek(ms)", "note": ""}),
     "cannot call 'Percus.seek"),
])
def test_tables_the_script_cannot_honour_fail_the_build(
        monkeypatch: pytest.MonkeyPatch, edit: Any, message: str) -> None:
    tables = export_tables()
    edit(tables)
    monkeypatch.setattr(build, "export_tables", lambda: tables)
    with pytest.raises(ValueError, match=message):
        build_bundles()
