"""What percus-individeo-compat.js reads from translator's tables, reshaped for compact JavaScript.

Every Individeo name in the compat script comes from here. The Percus names it relies on are
checked against the tables, so renaming one there fails the build instead of the page.
"""

from __future__ import annotations

import re
from typing import Any

# Globals the compat script itself writes (the player namespace, the version, the origins, the
# personalization data it falls back to) and the one whose legacy value is a bare host root.
PERCUS_GLOBALS = ("percusPlayer", "percusVersion", "percusDomains", "percusData")
TRACK_BASE = "PERCUS_TRACK_BASE_URL"
# A compat tag always becomes an embed, and a copied marker would let the bootstrap's own scan
# embed the container a second time, without the tag's options.
NOT_COPIED = ("data-percus-embed",)
# Player options the compat script acts on by name.
OPTIONS = ("attachmentCode", "personalizationData", "onReady", "autoInit", "autoplay")
PARSED_KINDS = ("bool", "string", "json", "global-function-name")  # what its option parser implements


def compat_context(tables: dict[str, Any]) -> dict[str, Any]:
    aliases = [[g["legacy"], g["percus"]] for g in tables["globals"] if g["percus"]]
    missing = {*PERCUS_GLOBALS, TRACK_BASE} - {percus for _, percus in aliases}
    if missing:
        raise ValueError(f"the compat script writes globals the tables do not alias: {sorted(missing)}")
    unknown = set(OPTIONS) - {o["name"] for o in tables["player_options"]}
    if unknown:
        raise ValueError(f"the compat script reads player options the tables lack: {sorted(unknown)}")
    acted = {o["name"] for o in tables["player_options"] if not o["ignored"]}
    if acted != set(OPTIONS):
        raise ValueError(f"the tables say the compat script acts on {sorted(acted)}; it acts on "
                         f"{sorted(OPTIONS)}")
    # target → its attributes in precedence order: the data-percus-* name itself, then the table's.
    targets: dict[str, list[str]] = {}
    for attribute in tables["individeo_attributes"]:
        native = attribute["target_kind"] == "attribute"
        first = [attribute["target"]] if native else []
        targets.setdefault(attribute["target"], first).append(attribute["name"])
    options = {o["name"]: [o["kind"], o["default"], o["empty"]] for o in tables["player_options"]}
    for name, (kind, _, _) in options.items():
        if kind not in PARSED_KINDS:
            raise ValueError(f"{name}: the compat script cannot parse kind {kind!r}")
    # source event → [callback, BEM types it triggers, payload match, occurrence, required option]:
    # the callback's own name and the value of every constant that fires with it, without repeats.
    constants: dict[str, list[str]] = {}
    for constant in tables["blueplayer_constants"]:
        constants.setdefault(constant["callback"], []).append(constant["value"])
    triggers: dict[str, list[list[Any]]] = {}
    for callback in tables["callbacks"]:
        trigger = callback["trigger"]
        if trigger is not None:
            types = list(dict.fromkeys([callback["name"], *constants.get(callback["name"], [])]))
            triggers.setdefault(trigger["event"], []).append(
                [callback["name"], types, trigger["match"], trigger["occurrence"], trigger["option"]])
    return {
        "prefixes": tables["individeo_prefixes"],
        "track_base": TRACK_BASE,
        "attribute_targets": [[t, names] for t, names in targets.items()
                              if t.startswith("data-percus-") and t not in NOT_COPIED],
        "option_targets": {t: [*options[t], names] for t, names in targets.items() if t in options},
        "known_attributes": [a["name"] for a in tables["individeo_attributes"]],
        "function_name_pattern": tables["function_name_pattern"],
        "aliases": aliases,
        "bus_globals": [g["legacy"] for g in tables["globals"] if not g["percus"]],
        "constants": {c["name"]: c["value"] for c in tables["blueplayer_constants"]},
        "callbacks": [c["name"] for c in tables["callbacks"]],
        "triggers": triggers,
        "legacy_fields": tables["legacy_payload_fields"],
        "player_methods": [_player_method(m["name"], m["percus"]) for m in tables["player_methods"]],
    }


def _player_method(name: str, percus: str) -> list[str]:
    """[legacy method, "command" | "embed", player command or embed method it calls], and for
    "player command A or B" the command B, sent instead of A once the player has started."""
    command = re.fullmatch(r"player command (\w+)(?: or (\w+))?", percus)
    method = re.fullmatch(r"Percus\.(\w+)\(\)", percus)
    if command:
        return [name, "command", *(c for c in command.groups() if c)]
    if method:
        return [name, "embed", method[1]]
    raise ValueError(f"{name}: the compat script cannot call {percus!r}")
