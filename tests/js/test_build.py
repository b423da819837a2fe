"""The JS build: committed bundles are fresh, generated from translator's tables, escaped, within budget."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jinja2.meta
import pytest
from pydantic import TypeAdapter, ValidationError

from gateway.sdk_files import load_bundles
from js import build
from js.attributes import TRACKING_ATTRIBUTES
from js.build import (
    BUNDLES,
    BYTE_BUDGETS,
    DIST,
    FEATURES,
    SRC,
    build_bundles,
    gzipped_size,
    js_literal,
    render,
    stale_bundles,
    version_of,
)
from translator.canonical import EVENT_TYPES, LOCALE_MAX_CHARS, LOCALE_PATTERN, NAME_MAX_CHARS, Locale
from translator.js_tables import export_tables


def test_committed_bundles_match_their_sources_and_tables() -> None:
    assert stale_bundles() == [], "run `percus build-js` and commit js/dist"


def test_the_gateway_serves_exactly_the_built_bundles() -> None:
    served = load_bundles(DIST)
    assert {name: bundle.identity for name, bundle in served.items() if name in BUNDLES} == build_bundles()


@pytest.mark.parametrize("name", BUNDLES)
def test_bundle_is_within_its_byte_budget(name: str) -> None:
    size, budget = gzipped_size(build_bundles()[name]), BYTE_BUDGETS[name]
    assert size <= budget, f"{name} is {size} bytes minified + gzipped; the budget is {budget}"


def test_the_bootstrap_loads_the_tracking_module_by_its_current_version() -> None:
    bundles = build_bundles()
    version = version_of(bundles["percus-tracking.js"])
    assert f'"percus-tracking.js?v={version}"' in bundles["percus-embed-sdk.js"].decode()


def test_bundles_are_generated_from_translator_tables() -> None:
    tables = export_tables()
    bootstrap = render("percus-embed-sdk.js", {"percus-tracking.js": "v"})
    tracking = render("percus-tracking.js", {})
    for attribute in tables["percus_attributes"]:  # named without data-percus- (tests/js/test_attributes.py)
        parsed_by = tracking if attribute["name"] in TRACKING_ATTRIBUTES else bootstrap
        assert json.dumps(attribute["name"].removeprefix("data-percus-")) in parsed_by
    assert f"NAME_MAX = {NAME_MAX_CHARS}" in bootstrap
    assert json.dumps(tables["name_fields"], separators=(",", ":")) in tracking
    assert '["error_message"]' in bootstrap  # the only name field of what the bootstrap sends itself
    relayed = set(EVENT_TYPES) - {"session.started", "consent.accepted", "consent.declined"}
    assert all(json.dumps(event_type) in tracking for event_type in relayed)


def test_the_bootstrap_checks_locales_with_the_schemas_own_pattern() -> None:
    tables = export_tables()
    assert (tables["locale_pattern"], tables["locale_max_chars"]) == (LOCALE_PATTERN, LOCALE_MAX_CHARS)
    bootstrap = render("percus-embed-sdk.js", {"percus-tracking.js": "v"})
    assert f"new RegExp({json.dumps(LOCALE_PATTERN)}), LOCALE_MAX = {LOCALE_MAX_CHARS}" in bootstrap


@pytest.mark.parametrize("value", ["es-CL", "en", "es_cl", "zh-Hant-TW", "de-DE-1996", "english", "e", "en-",
                                   "en US", "en-CA\n", "fr-" + "a" * 9, "en-" + "-".join(["abcdefgh"] * 4)])
def test_what_the_sdk_would_send_as_locale_is_what_the_gateway_accepts(value: str) -> None:
    """The bootstrap sends a locale when it matches the pattern (a JavaScript RegExp, whose `$` does
    not match before a final newline) and fits the length: exactly when the schema takes it."""
    sent = re.fullmatch(LOCALE_PATTERN.removeprefix("^").removesuffix("$"), value) is not None
    sent = sent and len(value) <= LOCALE_MAX_CHARS
    try:
        TypeAdapter(Locale).validate_python(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert sent == accepted or (accepted and value.endswith("\n"))  # the SDK is the stricter one


def test_an_attribute_kind_the_bootstrap_cannot_parse_fails_the_build(
        monkeypatch: pytest.MonkeyPatch) -> None:
    tables = export_tables()
    tables["percus_attributes"].append({"name": "data-percus-extra", "kind": "json", "default": None,
                                        "empty": None, "choices": [], "aliases": {}, "note": ""})
    monkeypatch.setattr(build, "export_tables", lambda: tables)
    with pytest.raises(ValueError, match="cannot parse kind 'json'"):
        build_bundles()


@pytest.mark.parametrize(("kind", "default"), [("bool", None), ("string", False), ("enum", "PROD")])
def test_an_attribute_the_bootstrap_would_take_for_another_kind_fails_the_build(
        monkeypatch: pytest.MonkeyPatch, kind: str, default: Any) -> None:
    """The bootstrap tells a row's kind from its default and choices: a table it would misread fails."""
    tables = export_tables()
    tables["percus_attributes"].append({"name": "data-percus-extra", "kind": kind, "default": default,
                                        "empty": None, "choices": [], "aliases": {}, "note": ""})
    monkeypatch.setattr(build, "export_tables", lambda: tables)
    with pytest.raises(ValueError, match=f"data-percus-extra: a {kind} with default"):
        build_bundles()


def test_an_enum_whose_default_is_not_one_of_its_choices_fails_the_build(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser takes a word only when its value has the default's type: an enum's default is a choice."""
    tables = export_tables()
    tables["percus_attributes"].append({"name": "data-percus-extra", "kind": "enum", "default": None,
                                        "empty": None, "choices": ["A", "B"], "aliases": {}, "note": ""})
    monkeypatch.setattr(build, "export_tables", lambda: tables)
    with pytest.raises(ValueError, match="data-percus-extra: an enum's default must be one of its choices"):
        build_bundles()


NASTY: list[Any] = ["</script><script>alert(1)</script>", "<!-- -->", "a\u2028b\u2029c", "\"'`${x}\\",
                    "&amp;", {"k</script>": ["\u2028"]}, None, True, 1.5]


@pytest.mark.parametrize("value", NASTY)
def test_js_literal_round_trips_and_cannot_end_a_script(value: Any) -> None:
    literal = js_literal(value)
    assert json.loads(literal) == value
    for forbidden in ("<", ">", "&", "\u2028", "\u2029"):
        assert forbidden not in literal


def test_every_template_expression_is_escaped_for_javascript() -> None:
    template = build._environment().from_string("var x = {{ value }};")
    assert template.render(value="</script>") == 'var x = "\\u003c/script\\u003e";'


def test_build_writes_only_what_changed_and_check_reports_staleness(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dist"
    written = build_bundles(out)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == written
    (out / "percus-tracking.js").write_bytes(b"// edited by hand\n")
    monkeypatch.setattr(build, "DIST", out)
    assert build.run(check=True) == 1
    assert "percus-tracking.js" in capsys.readouterr().err
    assert build.run() == 0
    assert build.run(check=True) == 0
    assert (out / "percus-tracking.js").read_bytes() == written["percus-tracking.js"]


def test_percus_build_js_check_passes_on_the_committed_bundles() -> None:
    from percus.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["build-js", "--check"])
    assert exit_.value.code == 0


def partials(template: str) -> set[str]:
    """Every partial `template` includes, directly or through another, whatever the build flags."""
    env = build._environment()
    assert env.loader is not None
    source = env.loader.get_source(env, template)[0]
    found = {str(name) for name in jinja2.meta.find_referenced_templates(env.parse(source))}
    return found.union(*(partials(name) for name in found))


def test_each_partial_is_part_of_a_bundle_and_shared_ones_of_several() -> None:
    used = {name: partials(f"{name}.j2") for name in BUNDLES}
    every = {str(path.relative_to(SRC)) for path in (SRC / "parts").rglob("*.j2")}
    assert set().union(*used.values()) == every
    for part in every:
        bundles = [name for name, parts in used.items() if part in parts]
        assert (len(bundles) > 1) == part.startswith("parts/shared/"), (part, bundles)


# Each build flag: the bundle it selects partials of, and names only the code of those partials holds
# (property names and strings: the minifier renames local names).
FLAG_CODE = {
    "ga_forwarding": ("percus-tracking.js", ("dataLayer", "event_category", "gaMeasurementId")),
    "adobe_forwarding": ("percus-tracking.js", ("alloy", "linkTrackVars", "adobeEvars")),
    "loader_queue": ("percus-embed-sdk.js", ("?.q||[]",)),
}


def test_every_build_flag_is_on_by_default_and_tested() -> None:
    """The defaults build the committed bundles, with every optional part in them."""
    assert dict.fromkeys(FLAG_CODE, True) == FEATURES


@pytest.mark.parametrize("flag", sorted(FLAG_CODE))
def test_a_build_flag_turned_off_leaves_its_code_out(flag: str) -> None:
    name, code = FLAG_CODE[flag]
    on, off = build_bundles()[name], build_bundles(features={flag: False})[name]
    assert [word for word in code if word not in on.decode()] == []
    assert [word for word in code if word in off.decode()] == []
    assert gzipped_size(off) < gzipped_size(on)


@pytest.mark.skipif(shutil.which("node") is None, reason="node checks the syntax")
@pytest.mark.parametrize("off", [(), *[(flag,) for flag in FEATURES], tuple(FEATURES)], ids=repr)
def test_every_combination_of_flags_builds_valid_javascript(off: tuple[str, ...], tmp_path: Path) -> None:
    bundles = build_bundles(tmp_path, features=dict.fromkeys(off, False))
    for name in bundles:
        checked = subprocess.run(["node", "--check", str(tmp_path / name)], capture_output=True, text=True)
        assert checked.returncode == 0, f"{name} with {off} off: {checked.stderr}"


def test_an_unknown_build_flag_fails_the_build() -> None:
    with pytest.raises(ValueError, match="unknown build flags: \\['debug_logging'\\]"):
        build_bundles(features={"debug_logging": False})
