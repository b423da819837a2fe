"""Percus embed attributes (`data-percus-*`), their value kinds, and the lenient parsing of a value.

A script on a customer's page must not break on `"TRUE "` or on JSON with a typo: values are parsed
leniently and a bad one becomes a warning and the default, never an exception. The JS build reads
these tables through `translator.js_tables`, so the browser parses exactly as described here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["bool", "string", "json", "global-function-name", "enum"]
KINDS: tuple[Kind, ...] = ("bool", "string", "json", "global-function-name", "enum")

TRUE_WORDS = ("true", "1", "yes", "y", "on")
FALSE_WORDS = ("false", "0", "no", "n", "off")
# A dotted path of JS identifiers, resolved from `window` (e.g. "onReady" or "app.video.onReady").
# ASCII classes only, so Python's `re` and the browser's RegExp read the exported pattern alike.
FUNCTION_NAME = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$")
ENVIRONMENTS = ("DEV", "STAGING", "PROD")
# `uat`: the value Individeo documents for its testing environment.
ENVIRONMENT_ALIASES = (("development", "DEV"), ("stage", "STAGING"), ("uat", "STAGING"),
                       ("production", "PROD"))
_ECHO_CHARS = 64


@dataclass(frozen=True)
class Value:
    """How one attribute's text becomes a value."""

    kind: Kind
    default: Any = None
    # What an attribute written without a value (`data-x` or `data-x=""`) means; None: as if absent.
    # Consent and tracking switches keep None, so an empty template variable never grants consent.
    empty: Any = None
    choices: tuple[str, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PercusAttribute:
    name: str
    value: Value
    note: str


@dataclass(frozen=True)
class Parsed:
    """A parsed value, and why the text was not used when it was not."""

    value: Any
    warning: str | None = None


_BOOL_OFF = Value("bool", default=False)
_STRING = Value("string")

PERCUS_ATTRIBUTES: tuple[PercusAttribute, ...] = (
    PercusAttribute("data-percus-embed", Value("bool", default=False, empty=True),
                    "Marker: this element becomes an embed."),
    PercusAttribute("data-percus-share-token", _STRING,
                    "Signed share token (organization, project, share and channel ids). Required, unless "
                    "the compat script resolves an Individeo attachment code into one."),
    PercusAttribute("data-percus-player-url", _STRING,
                    "Player page URL. Default: the reference player of the gateway that served the script."),
    PercusAttribute("data-percus-recipient-code", _STRING,
                    "Personalizes the video. Hashed in the browser into viewer_hash; never sent."),
    PercusAttribute("data-percus-enable-tracking", _BOOL_OFF,
                    "Load the tracking module (once consent allows it)."),
    PercusAttribute("data-percus-consent-required", Value("bool", default=True, empty=True),
                    "Tracking waits for the viewer's consent."),
    PercusAttribute("data-percus-consent-accepted", _BOOL_OFF,
                    "Consent was already given on this page; otherwise call Percus.acceptConsent()."),
    PercusAttribute("data-percus-tracking-url", _STRING,
                    "Analytics endpoint base. Default: the gateway that served the script."),
    PercusAttribute("data-percus-enable-ga", _BOOL_OFF,
                    "Mirror a minimal set of events into window.dataLayer."),
    PercusAttribute("data-percus-ga-event-name", Value("string", default="percus_video"),
                    "Event name of the dataLayer pushes."),
    PercusAttribute("data-percus-ga-category-name", Value("string", default="Percus Video"),
                    "Event category of the dataLayer pushes."),
    PercusAttribute("data-percus-ga-measurement-id", _STRING,
                    "GA property the pushes are sent to (send_to); giving one turns GA forwarding on. "
                    "Percus never loads Google's tag itself: the page's own tag delivers the pushes."),
    PercusAttribute("data-percus-ga-client-measurement-id", _STRING,
                    "A second GA property (the client's own), also added to send_to."),
    PercusAttribute("data-percus-enable-adobe", _BOOL_OFF,
                    "Mirror the same events to the page's own Adobe Analytics library: the Web SDK "
                    "(alloy sendEvent) when the page has one, else AppMeasurement (s.tl)."),
    PercusAttribute("data-percus-adobe-evars", Value("string", default="eVar1,eVar2"),
                    "AppMeasurement: the two eVars the mirrored events fill, with the event type and its "
                    "label (25%, the CTA's name)."),
    PercusAttribute("data-percus-adobe-event", Value("string", default="event1"),
                    "AppMeasurement: the success event each mirrored event counts."),
    PercusAttribute("data-percus-organization-id", _STRING,
                    "Informational. The organization always comes from the share token."),
    PercusAttribute("data-percus-project-id", _STRING, "Project id (the share token's wins)."),
    PercusAttribute("data-percus-template-id", _STRING, "Template id, stamped on the events."),
    PercusAttribute("data-percus-template-version", _STRING, "Template version, stamped on the events."),
    PercusAttribute("data-percus-environment",
                    Value("enum", default="PROD", choices=ENVIRONMENTS, aliases=ENVIRONMENT_ALIASES),
                    "DEV, STAGING or PROD. A label only: endpoints come from the gateway that served "
                    "the script, never from this value."),
    PercusAttribute("data-percus-locale", _STRING,
                    "Viewer language (BCP 47, e.g. es-CL): passed to the player, stamped as locale."),
)

_BY_NAME = {attribute.name: attribute for attribute in PERCUS_ATTRIBUTES}


def percus_attribute(name: str) -> PercusAttribute | None:
    return _BY_NAME.get(name.strip().lower())


def _echo(text: str) -> str:
    """Quote page text in a warning: bounded, and encodable even with a lone surrogate."""
    short = text if len(text) <= _ECHO_CHARS else text[:_ECHO_CHARS] + "…"
    return json.dumps(short)


def parse_value(value: Value, raw: str | None, *, name: str) -> Parsed:
    """The value an attribute's text stands for; `raw` None means the attribute is absent."""
    if raw is None:
        return Parsed(value.default)
    text = raw.strip()
    if not text:
        return Parsed(value.default if value.empty is None else value.empty)
    if value.kind == "bool":
        word = text.lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return Parsed(word in TRUE_WORDS)
        return Parsed(value.default, f"{name}={_echo(raw)} is not true or false; using {value.default}")
    if value.kind == "json":
        try:
            return Parsed(json.loads(text))
        except (ValueError, RecursionError) as exc:
            # The text is personalization data: say where it broke, never what it says.
            where = f" at character {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
            return Parsed(value.default, f"{name} is not valid JSON{where}; ignored")
    if value.kind == "global-function-name":
        path = text.removeprefix("window.").removesuffix(";").removesuffix("()")
        if FUNCTION_NAME.fullmatch(path):
            return Parsed(path)
        return Parsed(value.default, f"{name}={_echo(raw)} is not the name of a global function; ignored")
    if value.kind == "enum":
        word = text.lower()
        choice = next((c for c in value.choices if c.lower() == word), None)
        choice = choice or dict(value.aliases).get(word)
        if choice is not None:
            return Parsed(choice)
        return Parsed(value.default, f"{name}={_echo(raw)} is not one of {', '.join(value.choices)}; "
                                     f"using {value.default}")
    return Parsed(text)
