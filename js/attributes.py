"""The data-percus-* attributes each bundle parses, as compact rows for the bootstrap's parser.

The bootstrap runs on every page, before consent, so it parses only what it reads itself; the
attributes only the tracking module reads (forwarding to Google Analytics and Adobe, the recipient
code it hashes) and the labels no code reads (organization, project, environment) are parsed by the
tracking module, with the bootstrap's parser, into the same settings once it tracks the embed.
"""

from __future__ import annotations

from typing import Any

TRACKING_ATTRIBUTES = frozenset({
    "data-percus-recipient-code", "data-percus-enable-ga", "data-percus-ga-event-name",
    "data-percus-ga-category-name", "data-percus-ga-measurement-id", "data-percus-ga-client-measurement-id",
    "data-percus-enable-adobe", "data-percus-adobe-evars", "data-percus-adobe-event",
    "data-percus-organization-id", "data-percus-project-id", "data-percus-environment",
})
# Attribute kinds the bootstrap's parser implements; a new kind in the tables fails the build.
PARSED_KINDS = ("bool", "string", "enum")


def attribute_row(attribute: dict[str, Any]) -> str | list[Any]:
    """One attribute for the bootstrap's parser, compact: its name without `data-percus-`, alone for a
    string without default nor empty value, else [name, default, empty, enum words]. An enum's words
    map each choice and alias, lowercase, to its choice; a boolean default stands for the boolean
    words (`boolean_words`). The parser tells the kind from the row (a boolean default: bool; words:
    enum; else string), so a row whose kind it would tell wrong fails the build."""
    name, kind, default = attribute["name"], attribute["kind"], attribute["default"]
    if kind not in PARSED_KINDS:
        raise ValueError(f"{name}: the bootstrap cannot parse kind {kind!r}")
    if not name.startswith("data-percus-"):
        raise ValueError(f"{name}: the bootstrap reads data-percus-* attributes only")
    told = "bool" if isinstance(default, bool) else "enum" if attribute["choices"] else "string"
    if told != kind:
        raise ValueError(f"{name}: a {kind} with default {default!r} would parse as a {told}")
    row: list[Any] = [name.removeprefix("data-percus-"), default, attribute["empty"]]
    if kind == "enum":
        # The parser takes a word whose value has the default's type: an enum's default is a choice.
        if default not in attribute["choices"]:
            raise ValueError(f"{name}: an enum's default must be one of its choices, not {default!r}")
        row.append({**{c.lower(): c for c in attribute["choices"]},
                    **{alias.lower(): c for alias, c in attribute["aliases"].items()}})
    while len(row) > 1 and row[-1] is None:
        row.pop()
    return row[0] if len(row) == 1 else row


def boolean_words(words: dict[str, list[str]]) -> dict[str, bool]:
    """translator's boolean words as one map, word -> the boolean it stands for."""
    return {**dict.fromkeys(words["true"], True), **dict.fromkeys(words["false"], False)}


def attribute_rows(attributes: list[dict[str, Any]], *, tracking: bool) -> list[str | list[Any]]:
    """The rows the tracking module parses (`tracking`), or the bootstrap's; a tracking attribute the
    tables no longer have fails the build."""
    missing = TRACKING_ATTRIBUTES - {attribute["name"] for attribute in attributes}
    if missing:
        raise ValueError(f"tracking attributes not in translator's tables: {sorted(missing)}")
    return [attribute_row(a) for a in attributes if (a["name"] in TRACKING_ATTRIBUTES) == tracking]
