"""Canonical events already written in their stored form, validated by one native call into plain dicts
of JSON values that `pydantic_core.to_json` writes as the models' serializers do: the ingest route's fast
path.

Derived from the models' own core schema (translator/canonical.py), so the two never drift: each model
becomes a TypedDict of the same fields in the same order, defaults included, and each Python validator
that would change a
value (parse and reformat a time, truncate a name, normalise a locale, check a UUID) is replaced by a
native schema accepting only values it leaves as they are. A value outside that subset fails here and
takes the models' way, which normalises or explains it; a value inside gives the models' bytes
(tests/translator/test_stored_form.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from pydantic_core import CoreSchema, SchemaValidator
from pydantic_core import core_schema as cs

from translator.canonical import (
    LOCALE_MAX_CHARS,
    NAME_MAX_CHARS,
    _normalise_locale,
    _number,
    _parse_timestamp,
    _truncate,
    _watched_first,
)

_DIGIT = "[0-9]"  # not \d: a regex's \d takes every script's digits
# format_timestamp's output from 2000 on, on a day every month has (29 February needs its year checked:
# it goes the models' way, as does every other form of a time).
STORED_TIMESTAMP = (
    f"^[2-9]{_DIGIT}{{3}}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1{_DIGIT}|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
    f"|(?:0[13578]|1[02])-31)T(?:[01]{_DIGIT}|2[0-3]):[0-5]{_DIGIT}:[0-5]{_DIGIT}\\.{_DIGIT}{{3}}Z$"
)
# A language tag _normalise_locale returns unchanged: lowercase language, two-character subtags in
# capitals, four-letter ones titled.
STORED_LOCALE = r"^[a-z]{2,3}(?:-(?:[A-Z0-9]{2}|[A-Za-z0-9]{3}|[A-Z][a-z]{3}|[A-Za-z0-9]{5,8}))*$"
# str(UUID): what the models store of any UUID.
STORED_UUID = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def _subset(function: Callable[..., Any], inner: CoreSchema, shared: dict[str, CoreSchema]) -> CoreSchema:
    """The native schema accepting the values on which `function` (a validator around `inner`) returns
    its input, or some of them; KeyError for a validator this module does not know."""
    if function is _parse_timestamp:
        return cs.str_schema(pattern=STORED_TIMESTAMP)
    if function is _normalise_locale:
        return cs.str_schema(pattern=STORED_LOCALE, max_length=LOCALE_MAX_CHARS)
    if function is _truncate:
        return cs.str_schema(max_length=NAME_MAX_CHARS)
    if function is _number:  # a JSON integer: 1500.0 is made 1500 the models' way
        return cast(CoreSchema, {**_native(inner, shared), "strict": True})
    if function is _watched_first:  # a check that changes nothing, and runs only for a value sent
        return cs.with_info_after_validator_function(_watched_first, _native(inner, shared))
    raise KeyError(f"no native stored form for the validator {function!r}: add one here")


def _native(schema: CoreSchema, shared: dict[str, CoreSchema]) -> CoreSchema:
    """`schema` turned into its stored-form counterpart; `shared`: the schemas it refers to by name."""
    node = cast(dict[str, Any], schema)
    kind = node["type"]
    if kind == "definitions":  # the models' schemas before warm_up rebuilt them, say: inlined here
        return _native(node["schema"], {**shared, **{each["ref"]: each for each in node["definitions"]}})
    if kind == "definition-ref":
        return _native(shared[node["schema_ref"]], shared)
    if kind == "model":
        fields = node["schema"]["fields"]
        if node["schema"].get("computed_fields") or set(node["config"]) - {"title", "extra_fields_behavior"}:
            raise KeyError(f"no native stored form for the model {node['cls']!r}")
        return cs.typed_dict_schema({
            name: cs.typed_dict_field(_native(field["schema"], shared),
                                      required=field["schema"]["type"] != "default")
            for name, field in fields.items()
        }, extra_behavior=node["config"].get("extra_fields_behavior"))
    if kind in ("function-before", "function-after"):
        return _subset(node["function"]["function"], node["schema"], shared)
    if kind == "default":
        default: dict[str, Any] = {"default": node["default"]} if "default" in node else {
            "default_factory": lambda factory=node["default_factory"]: factory().model_dump(mode="json")}
        return cs.with_default_schema(_native(node["schema"], shared), **default)
    if kind == "nullable":
        return cs.nullable_schema(_native(node["schema"], shared))
    if kind == "tagged-union":
        choices = {tag: _native(choice, shared) for tag, choice in node["choices"].items()}
        return cs.tagged_union_schema(choices, node["discriminator"])
    if kind == "uuid":
        return cs.str_schema(pattern=STORED_UUID)
    if kind in ("str", "int", "float", "bool", "literal"):
        return cast(CoreSchema, {key: value for key, value in node.items() if key != "metadata"})
    raise KeyError(f"no native stored form for a {kind} schema")


def stored_event(event_schema: CoreSchema) -> SchemaValidator:
    """The validator of one event into a dict. `event_schema`: the models' core schema of one event."""
    return SchemaValidator(_native(event_schema, {}))


def stored_batch(event_schema: CoreSchema, max_events: int) -> SchemaValidator:
    """The validator of a batch body `{"events": [...]}` into dicts (with `event_type`, None unless the
    body has one too)."""
    body = cs.typed_dict_schema({
        # Stops at the first event in another form: the batch then goes the models' way whatever the rest.
        "events": cs.typed_dict_field(cs.list_schema(_native(event_schema, {}), min_length=1,
                                                     max_length=max_events, fail_fast=True)),
        "event_type": cs.typed_dict_field(cs.with_default_schema(cs.any_schema(), default=None),
                                          required=False),
    }, extra_behavior="ignore")
    return SchemaValidator(body)
