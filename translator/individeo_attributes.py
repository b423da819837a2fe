"""Individeo script-tag attributes (`data-iv-*` and the older `data-bp-*`) and what each becomes.

Every attribute maps to a Percus embed attribute (`data-percus-*`) or to a player option: a setting
the compat script hands to the player and the SDK that has no attribute of its own in a native
embed. Section 8.1 of the design document, plus the attributes seen on customers' pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from translator.embed_attributes import Value, parse_value, percus_attribute
from translator.individeo_globals import TRACKING_URL_CAVEAT

PREFIXES = ("data-iv-", "data-bp-")  # earlier prefix wins when a page writes both


@dataclass(frozen=True)
class PlayerOption:
    name: str
    value: Value
    note: str
    # Why the compat script reads it (warning about a bad value) but changes nothing; js/compat.py
    # checks that it acts on exactly the options without one.
    ignored: str = ""


@dataclass(frozen=True)
class IndivideoAttribute:
    name: str  # without its prefix
    target: str  # a `data-percus-*` attribute or a player option name
    note: str = ""
    caveat: str = ""  # what a page relying on it must know after the swap (`percus migrate check`)

    @property
    def target_kind(self) -> str:
        return "attribute" if self.target.startswith("data-percus-") else "option"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(prefix + self.name for prefix in PREFIXES)


_NO_SWITCH = "Read and ignored: the Percus player has no such switch."

PLAYER_OPTIONS: tuple[PlayerOption, ...] = (
    PlayerOption("attachmentCode", Value("string"),
                 "Which personalized video. Resolved by GET /analytics/v1/legacy/embeds/{code} into the "
                 "player URL, a share token and the tracking and consent defaults for a page that sets "
                 "neither (see `percus legacy register`)."),
    PlayerOption("personalizationData", Value("json"),
                 "Personalization data, as player.initIndivideo(data) would pass it. Given to the player "
                 "only; never sent to analytics (it is personal data)."),
    PlayerOption("onReady", Value("global-function-name"),
                 "Global function called once with the player object when the player is ready."),
    PlayerOption("autoInit", Value("bool", default=True, empty=True),
                 "false: the player waits for player.initIndivideo(data)."),
    PlayerOption("autoplay", Value("bool", default=False, empty=True), "Start playing when ready."),
    PlayerOption("autoFullscreen", Value("bool", default=False, empty=True),
                 "Enter fullscreen when playback starts.",
                 "Read and ignored: browsers only enter fullscreen on a viewer's gesture."),
    PlayerOption("emulateFullscreen", Value("bool", default=True, empty=True),
                 "Emulate fullscreen where the browser has no native fullscreen.", _NO_SWITCH),
    PlayerOption("branding", Value("bool", default=True, empty=True),
                 "false: the player shows no provider branding on its preloader.", _NO_SWITCH),
    PlayerOption("subtitles", Value("bool", default=False, empty=True),
                 "Show closed captions from the start.", _NO_SWITCH),
)

INDIVIDEO_ATTRIBUTES: tuple[IndivideoAttribute, ...] = (
    # Section 8.1.
    IndivideoAttribute("smart-embed-proxy", "data-percus-embed",
                       caveat="Not needed: every compat tag becomes a player."),
    IndivideoAttribute("tracking-url", "data-percus-tracking-url", caveat=TRACKING_URL_CAVEAT),
    IndivideoAttribute("tracker-group-key", "data-percus-organization-id",
                       caveat="Informational on a page; the organization comes from the share token."),
    IndivideoAttribute("enable-tracking", "data-percus-enable-tracking", "The wire flag utrk."),
    IndivideoAttribute("enable-smart-tracking", "data-percus-enable-tracking"),
    IndivideoAttribute("enable-ga-tracking", "data-percus-enable-ga"),
    IndivideoAttribute("embed-smart-tracking", "data-percus-enable-tracking"),
    IndivideoAttribute("ga-event-name", "data-percus-ga-event-name"),
    IndivideoAttribute("ga-category-name", "data-percus-ga-category-name"),
    IndivideoAttribute("consent-required", "data-percus-consent-required"),
    IndivideoAttribute("consent-accepted", "data-percus-consent-accepted"),
    IndivideoAttribute("project-code", "data-percus-project-id"),
    IndivideoAttribute("media-id", "data-percus-template-id",
                       caveat="Used only for an attachment registered without a template "
                              "(`percus legacy register --template`)."),
    IndivideoAttribute("media-code", "data-percus-template-version"),
    # Section 8.1's `data-iv-env` and the field's `env` are one attribute: DEV/STAGING/PROD, any case.
    IndivideoAttribute("env", "data-percus-environment",
                       caveat="A label only: endpoints come from the gateway that served the script."),
    # Seen on customers' pages.
    IndivideoAttribute("attachment-code", "attachmentCode"),
    IndivideoAttribute("lang", "data-percus-locale"),
    IndivideoAttribute("recipient-code", "data-percus-recipient-code"),
    IndivideoAttribute("individeo-data", "personalizationData"),
    IndivideoAttribute("on-ready", "onReady"),
    IndivideoAttribute("auto-init", "autoInit"),
    IndivideoAttribute("auto-play", "autoplay"),
    IndivideoAttribute("auto-fullscreen", "autoFullscreen"),
    IndivideoAttribute("enable-emulate-fullscreen", "emulateFullscreen"),
    IndivideoAttribute("use-branding", "branding"),
    IndivideoAttribute("is-subtitle", "subtitles"),
    IndivideoAttribute("ga", "data-percus-ga-measurement-id", "Individeo's Google Analytics code."),
    IndivideoAttribute("gac", "data-percus-ga-client-measurement-id",
                       "Individeo's Google Analytics client code."),
)

_OPTIONS = {option.name: option for option in PLAYER_OPTIONS}
_BY_NAME = {name: attribute for attribute in INDIVIDEO_ATTRIBUTES for name in attribute.names}


def individeo_attribute(name: str) -> IndivideoAttribute | None:
    """The table entry for a prefixed attribute name, e.g. `data-bp-lang` (any case)."""
    return _BY_NAME.get(name.strip().lower())


def attribute_caveat(attribute: IndivideoAttribute) -> str:
    """What a page relying on the attribute must know after the swap: its own caveat, or why the
    compat script ignores its player option."""
    option = _OPTIONS.get(attribute.target)
    return attribute.caveat or (option.ignored if option else "")


def target_value(target: str) -> Value:
    """How a target's text is parsed; the same for the Individeo alias and the Percus name."""
    attribute = percus_attribute(target)
    if attribute is not None:
        return attribute.value
    return _OPTIONS[target].value


@dataclass(frozen=True)
class Resolution:
    """What a script tag's attributes configure: target → value, for the targets the tag sets."""

    values: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def resolve_attributes(attributes: Mapping[str, str]) -> Resolution:
    """Read a tag's attributes as the compat script does.

    Per target the first given attribute wins, in this order: the `data-percus-*` name itself, then
    the Individeo attributes in table order, `data-iv-` before `data-bp-`. For the three tracking
    switches that means an explicit `enable-tracking="false"` beats a later synonym saying true.
    """
    given = {name.strip().lower(): raw for name, raw in attributes.items()}
    warnings = [f"unknown Individeo attribute {name}; ignored" for name in given
                if name.startswith(PREFIXES) and name not in _BY_NAME]
    candidates: dict[str, list[str]] = {}
    for attribute in INDIVIDEO_ATTRIBUTES:
        if attribute.target not in candidates:
            native = attribute.target_kind == "attribute"
            candidates[attribute.target] = [attribute.target] if native else []
        candidates[attribute.target].extend(attribute.names)
    values: dict[str, Any] = {}
    for target, names in candidates.items():
        present = [name for name in names if name in given]
        if not present:
            continue
        winner = present[0]
        parsed = parse_value(target_value(target), given[winner], name=winner)
        values[target] = parsed.value
        if parsed.warning:
            warnings.append(parsed.warning)
        warnings.extend(f"{name} ignored: {winner} is also given" for name in present[1:]
                        if given[name].strip() != given[winner].strip())
    return Resolution(values, tuple(warnings))
