"""Lenient parsing of script-tag attributes, as a script on a customer's page must do it."""

from __future__ import annotations

import json

import pytest

from translator.embed_attributes import Value, parse_value, percus_attribute
from translator.individeo_attributes import individeo_attribute, resolve_attributes, target_value

BOOL = Value("bool", default=False, empty=True)


def value(target: str, raw: str | None) -> object:
    return parse_value(target_value(target), raw, name=target).value


@pytest.mark.parametrize("raw", ["true", "TRUE", " True ", "1", "yes", "Y", "on", "", "  "])
def test_true_words_and_an_empty_marker_read_as_true(raw: str) -> None:
    assert parse_value(BOOL, raw, name="x") == parse_value(BOOL, "true", name="x")
    assert parse_value(BOOL, raw, name="x").value is True


@pytest.mark.parametrize("raw", ["false", "FALSE", "\tfalse\n", "0", "no", "N", "off"])
def test_false_words_read_as_false(raw: str) -> None:
    assert parse_value(Value("bool", default=True), raw, name="x").value is False


def test_an_unknown_boolean_is_the_default_with_a_warning_naming_the_attribute() -> None:
    parsed = parse_value(Value("bool", default=True), "maybe", name="data-iv-auto-init")
    assert parsed.value is True
    assert parsed.warning is not None and "data-iv-auto-init" in parsed.warning and "maybe" in parsed.warning


def test_an_absent_attribute_is_its_default() -> None:
    assert value("autoInit", None) is True
    assert value("data-percus-environment", None) == "PROD"
    assert value("data-percus-tracking-url", None) is None


def test_an_empty_consent_or_tracking_switch_never_turns_them_on() -> None:
    # `data-iv-consent-accepted="{{ consent }}"` rendered empty must not count as consent.
    for target in ("data-percus-consent-accepted", "data-percus-enable-tracking", "data-percus-enable-ga"):
        assert value(target, "") is False
        assert value(target, "true") is True
    assert value("data-percus-consent-required", "") is True


def test_json_is_parsed_and_bad_json_is_a_warning_that_does_not_repeat_the_data() -> None:
    data = value("personalizationData", ' {"CLIENT_TYPE": "P", "n": [1, 2]} ')
    assert data == {"CLIENT_TYPE": "P", "n": [1, 2]}
    parsed = parse_value(target_value("personalizationData"), "{'POLICY_HOLDER_NAME': 'Muhamad'}",
                         name="data-bp-individeo-data")
    assert parsed.value is None
    assert parsed.warning is not None and "data-bp-individeo-data" in parsed.warning
    assert "Muhamad" not in parsed.warning
    deep = parse_value(target_value("personalizationData"), "[" * 100_000, name="d")
    assert deep.value is None and deep.warning


@pytest.mark.parametrize(("raw", "expected"), [
    ("onIndivideoReady", "onIndivideoReady"),
    (" window.app.video.onReady ", "app.video.onReady"),
    ("onReady();", "onReady"),
    ("$ready_2", "$ready_2"),
])
def test_global_function_names(raw: str, expected: str) -> None:
    assert value("onReady", raw) == expected


@pytest.mark.parametrize("raw", ["alert(1)", "1abc", "on ready", "a..b", "function(){}", "función"])
def test_a_bad_function_name_is_ignored_with_a_warning(raw: str) -> None:
    parsed = parse_value(target_value("onReady"), raw, name="data-iv-on-ready")
    assert parsed.value is None and parsed.warning is not None


@pytest.mark.parametrize(("raw", "expected"), [
    ("PROD", "PROD"), ("prod", "PROD"), (" Staging ", "STAGING"), ("dev", "DEV"),
    ("production", "PROD"), ("Development", "DEV"), ("stage", "STAGING"), ("uat", "STAGING"),
    ("UAT", "STAGING"),
])
def test_environment_in_any_case_and_common_spellings(raw: str, expected: str) -> None:
    assert value("data-percus-environment", raw) == expected


def test_an_unknown_environment_is_prod_with_a_warning() -> None:
    parsed = parse_value(target_value("data-percus-environment"), "qa", name="data-iv-env")
    assert parsed.value == "PROD" and parsed.warning is not None and "DEV, STAGING, PROD" in parsed.warning


def test_strings_are_trimmed_and_empty_means_absent() -> None:
    assert value("data-percus-locale", " es-CL ") == "es-CL"
    assert value("attachmentCode", "") is None


def test_a_warning_quoting_page_text_is_bounded_and_encodable() -> None:
    short, long = (parse_value(BOOL, "\ud800" * n, name="x").warning for n in (100, 10_000))
    assert short is not None and long == short
    short.encode("utf-8")


def test_names_are_found_with_either_prefix_in_any_case() -> None:
    assert individeo_attribute("data-iv-lang") is individeo_attribute(" DATA-BP-LANG ")
    lang = individeo_attribute("data-bp-lang")
    assert lang is not None and lang.target == "data-percus-locale"
    assert individeo_attribute("data-iv-unknown") is None
    assert individeo_attribute("lang") is None  # the prefix is part of the name
    assert percus_attribute("DATA-PERCUS-EMBED") is not None


def test_a_field_style_bp_tag_resolves_to_percus_settings() -> None:
    # The shape of a single-page-app component's tag, as seen in the field.
    tag = {"src": "https://cdn.example/individeo/prod/edge/js/smartEmbed.js", "data-bp-env": "prod",
           "data-bp-lang": "en-CA", "data-bp-attachment-code": "bWDsAjJ2TMyskB4GEWbC-752",
           "data-bp-enable-emulate-fullscreen": "true", "data-bp-auto-init": "false",
           "data-bp-auto-fullscreen": "false", "data-bp-on-ready": "individeoOnReady",
           "data-bp-ga": "UA-1234-5", "data-bp-use-branding": "true", "data-bp-is-subtitle": "false"}
    resolution = resolve_attributes(tag)
    assert resolution.warnings == ()
    assert resolution.values == {
        "data-percus-environment": "PROD", "attachmentCode": "bWDsAjJ2TMyskB4GEWbC-752",
        "data-percus-locale": "en-CA", "onReady": "individeoOnReady", "autoInit": False,
        "autoFullscreen": False, "emulateFullscreen": True, "branding": True, "subtitles": False,
        "data-percus-ga-measurement-id": "UA-1234-5",
    }


def test_precedence_percus_name_then_table_order_then_iv_before_bp() -> None:
    resolution = resolve_attributes({
        "data-bp-lang": "fr", "data-iv-lang": "es-CL",
        "data-iv-enable-tracking": "false", "data-iv-enable-smart-tracking": "true",
        "data-percus-consent-accepted": "false", "data-iv-consent-accepted": "true",
        "data-iv-auto-play": "yes", "data-bp-auto-play": "YES",
    })
    assert resolution.values["data-percus-locale"] == "es-CL"
    assert resolution.values["data-percus-enable-tracking"] is False
    assert resolution.values["data-percus-consent-accepted"] is False
    assert resolution.values["autoplay"] is True
    assert sorted(resolution.warnings) == sorted([
        "data-bp-lang ignored: data-iv-lang is also given",
        "data-iv-enable-smart-tracking ignored: data-iv-enable-tracking is also given",
        "data-iv-consent-accepted ignored: data-percus-consent-accepted is also given",
        "data-bp-auto-play ignored: data-iv-auto-play is also given",
    ])


def test_unknown_individeo_attributes_warn_and_others_are_left_alone() -> None:
    resolution = resolve_attributes({"data-iv-colour": "red", "async": "", "data-other": "1",
                                     "data-iv-individeo-data": "{not json"})
    assert resolution.values == {"personalizationData": None}
    assert resolution.warnings[0] == "unknown Individeo attribute data-iv-colour; ignored"
    assert len(resolution.warnings) == 2
    json.dumps(resolution.warnings)
