"""`percus migrate check`: the Individeo dependencies in a page's text, each with what the compat
script makes of it, read from the Individeo tables (docs/migration-from-individeo.md).

Patterns, not parsing: pages come as HTML, JS/TS, PHP, JSX, Vue, Jinja, ERB… A page's on-ready
function and its own bus events may live in another file than the tag, so `collect_names` reads
every input first and `check_text` then checks each one with those names.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from translator.individeo_attributes import attribute_caveat, individeo_attribute
from translator.individeo_callbacks import callback
from translator.individeo_constants import BLUEPLAYER_CONSTANTS, CURRENT
from translator.individeo_globals import BUS_METHODS, GLOBALS, PLAYER_METHODS
from translator.individeo_wire import WIRE_EVENT_NAMES, wire_event

Status = Literal["supported", "supported, note", "not supported"]


@dataclass(frozen=True)
class Finding:
    line: int  # 1-based
    column: int  # 1-based, in characters
    kind: str
    text: str
    status: Status
    note: str = ""

    @property
    def verdict(self) -> str:
        return f"{self.status}: {self.note}" if self.note else self.status


@dataclass(frozen=True)
class Names:
    """What one input defines for the others: on-ready functions, events the page triggers itself."""

    ready_functions: frozenset[str] = frozenset()
    page_events: frozenset[str] = frozenset()


_ID = r"[A-Za-z_$][\w$]*"
# URL runs are bounded and start after a delimiter, so a megabyte of inline base64 stays linear.
_URL_CHARS = r"[^\s\"'`<>()]"
_URL_RUN = _URL_CHARS + "{0,2048}"
_URL_HEAD = r"(?<![^\s\"'`<>()=])[^\s\"'`<>()=]{0,2048}"  # no `src=` in what is matched
_URL_STOP = frozenset(" \t\r\n\"'`<>()=")
_INDIVIDEO_HOST = re.compile(r"individeo|bluerush", re.IGNORECASE)  # BlueRush makes Individeo
# The value an attribute or global is given right after its name: `="…"`, ` = '…'`, `", "…` (setAttribute).
_GIVEN_URL = re.compile(r"[\"'\]]*\s*[=:,]\s*[\s{\"'`]*((?:https?:)?//" + _URL_RUN + ")")
_GIVEN_NAME = re.compile(r"[\"'\]]*\s*[=:,]\s*\{?\s*[\"'`]{1,2}\s*(?:window\.)?(" + _ID + r"(?:\." + _ID
                         + ")*)")

_SCRIPT_SRC = re.compile(r"(?:" + _URL_HEAD + r"/|(?<=[\"'`]))smartEmbed(?:\.min)?\.js(?:\?" + _URL_RUN
                         + ")?", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"(?<![\w-])data-(?:iv|bp)-[a-z0-9]+(?:-[a-z0-9]+)*", re.IGNORECASE)
_DATASET = re.compile(r"\bdataset\s*(?:\.\s*|\[\s*[\"'])((?:iv|bp)[A-Z][A-Za-z0-9]*)")
_READY_ATTRIBUTE = re.compile(r"(?<![\w-])data-(?:iv|bp)-on-ready\b|\bdataset\s*\.\s*(?:iv|bp)OnReady\b",
                              re.IGNORECASE)
_BLUEPLAYER = re.compile(r"(?<![\w$])BluePlayer\s*\??\.\s*(" + _ID + ")")
_BUS = re.compile(r"(?<![\w$])BEM\s*\??\.\s*(" + _ID + ")")
_BUS_EVENT = re.compile(r"\s*\(\s*([\"'`])([^\"'`\n]+)\1")
_TRIGGERED = re.compile(r"(?<![\w$])BEM\s*\??\.\s*trigger\s*\(\s*([\"'`])([^\"'`\n]+)\1")
_ON_NAME = re.compile(r"([\"'`])([oO]n[A-Z][A-Za-z]*)\1")
_INIT = re.compile(r"(?<![\w$])initIndivideo(?![\w$])")
_INIT_RECEIVER = re.compile(r"(?<![\w$])(" + _ID + r")\s*\??\.\s*initIndivideo\b")
_FROM_CURRENT = re.compile(r"(?<![\w$])(" + _ID + r")\s*=\s*(?:window\s*\.\s*)?BluePlayer\s*\??\.\s*"
                           + CURRENT + r"\b")
_INDITRACK = re.compile(r"(?<![\w$])indiTrack\b(?:\?" + _URL_CHARS + r"{0,2048}?\bevt=([A-Za-z]+))?",
                        re.IGNORECASE)
_URL = re.compile(r"(?:https?:)?//([\w.-]+)(/" + _URL_RUN + ")?")
_IFRAME = re.compile(r"<iframe\b[^>]*>", re.IGNORECASE)
_PREVIEW = re.compile(_URL_HEAD + r"/individeo/preview/" + _URL_RUN, re.IGNORECASE)
# `[individeo code="…"]` in content, not `list[individeoIndex]` in code; and its registration.
_SHORTCODE = re.compile(r"(?<![\w\])$])\[individeo(?:[-_][a-z]+)*(?=[\s\]])[^\]\n]*\]"
                        r"|\badd_shortcode\s*\(\s*[\"']individeo[\w-]*[\"']", re.IGNORECASE)
# A global by its bare name, as `window.X`, `(window as any).X` or `window["X"]`, not as another's property.
_GLOBAL = re.compile(r"(?:(?<=\bwindow\.)|(?<=\bself\.)|(?<=\bglobalThis\.)|(?<=\)\.)|(?<=window\[\")"
                     r"|(?<=window\[')|(?<![\w$.]))(" + "|".join(re.escape(g.legacy) for g in GLOBALS)
                     + r")(?![\w$])")
# Receivers that are never the player, whatever a pattern captured.
_NOT_PLAYERS = frozenset({"this", "self", "window", "globalThis", "document", "BluePlayer"})
# The player is a plain object: these it inherits, a page may call them.
_OBJECT_METHODS = frozenset({"hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable", "toString",
                             "toLocaleString", "valueOf"})

_CONSTANTS = {c.name: c for c in BLUEPLAYER_CONSTANTS}
_CONSTANT_VALUES = {c.value: c for c in BLUEPLAYER_CONSTANTS}
_GLOBALS = {g.legacy: g for g in GLOBALS}
_METHODS = {m.name for m in PLAYER_METHODS}
_DOC = "docs/migration-from-individeo.md"
_SWAP = "Swap this src for the compat script's (the last line of the report)."
_INDIVIDEO_VALUE = ("It points at Individeo: remove it or point it at the gateway (after the swap, the "
                    "compat script would still talk to Individeo).")
_INDITRACK_SUPPORTED = ("The gateway answers this post (/api/indiTrack, /analytics/v1/indiTrack) once its "
                        "base URL is the gateway's root.")
_INDITRACK_INDIVIDEO = ("It posts to Individeo, which a src swap does not change: set its base URL to the "
                        "gateway's root (the gateway answers /api/indiTrack).")
_PREVIEW_CHANGE = ("An Individeo preview iframe, which a src swap does not reach: replace it with a compat "
                   "script tag for the same attachment code and lang.")
_SHORTCODE_CHANGE = ("A CMS shortcode that builds an Individeo preview iframe, which a src swap does not "
                     "reach: make it print a compat script tag, or replace it with one.")
_REST_CHANGE = ("A call to Individeo's REST API, which a src swap does not reach: remove it before Individeo "
                "is switched off (personalization data goes in the tag's individeo-data or "
                "initIndivideo(data); engagement numbers come from the Percus reports API, docs/api.md).")


def _ready_values(text: str) -> Iterator[re.Match[str]]:
    """The value of each on-ready attribute written literally (group 1: the function's dotted name)."""
    for attribute in _READY_ATTRIBUTE.finditer(text):
        value = _GIVEN_NAME.match(text, attribute.end())
        if value:
            yield value


def collect_names(texts: Iterable[str]) -> Names:
    ready: set[str] = set()
    events: set[str] = set()
    for text in texts:
        ready.update(value[1].rsplit(".", 1)[-1] for value in _ready_values(text))
        events.update(match[2] for match in _TRIGGERED.finditer(text))
    return Names(frozenset(ready), frozenset(events))


def _players(text: str, ready_functions: frozenset[str]) -> set[str]:
    """Names this text gives the player: the on-ready function's parameter, what initIndivideo is
    called on or BluePlayer.current is stored in, and what one of those is copied to."""
    names = {match[1] for match in _INIT_RECEIVER.finditer(text)}
    names |= {match[1] for match in _FROM_CURRENT.finditer(text)}
    for function in ready_functions:
        head = rf"(?<![\w$]){re.escape(function)}(?:[\"']\])?\s*"
        parameter = re.compile(head + r"(?:[:=]\s*(?:async\s+)?(?:function\b[\w$\s]*)?)?\(\s*(" + _ID + ")")
        arrow = re.compile(head + r"[:=]\s*(?:async\s+)?(" + _ID + r")\s*=>")
        names |= {match[1] for pattern in (parameter, arrow) for match in pattern.finditer(text)}
    names -= _NOT_PLAYERS
    if names:
        copy = re.compile(r"(?<![\w$])(" + _ID + r")\s*=\s*(?:" + "|".join(map(re.escape, names))
                          + r")\s*[;,)\n]")
        names |= {match[1] for match in copy.finditer(text)} - _NOT_PLAYERS
    return names


def _individeo_url(url: str) -> bool:
    return bool(_INDIVIDEO_HOST.search(urlsplit(url).hostname or ""))


def _given_individeo_url(text: str, end: int) -> bool:
    value = _GIVEN_URL.match(text, end)
    return bool(value and _individeo_url(value[1]))


def _fired_callback(event: str) -> str | None:
    """The callback whose firing triggers a bus event: its own name, or a constant's value."""
    if callback(event):
        return event
    constant = _CONSTANT_VALUES.get(event)
    return constant.callback if constant else None


def _callback_status(name: str) -> tuple[Status, str]:
    found = callback(name)
    if found is not None and found.trigger is None:
        return "supported, note", f"Defined but never fires. {found.note}"
    return "supported", ""


def _noted(caveat: str) -> tuple[Status, str]:
    return ("supported, note", caveat) if caveat else ("supported", "")


class _Scan:
    """One text's findings; a span once matched is not matched again by a later, weaker pattern."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.taken = bytearray(len(text))
        self.lines = [0] + [match.end() for match in re.finditer("\n", text)]
        self.findings: list[Finding] = []

    def free(self, start: int, end: int) -> bool:
        return not any(self.taken[start:end])

    def take(self, start: int, end: int) -> None:
        self.taken[start:end] = b"\x01" * (end - start)

    def add(self, start: int, end: int, kind: str, status: Status, note: str = "", *,
            at: int | None = None) -> None:
        """A finding over text[start:end], placed at `at` (default: start)."""
        self.take(start, end)
        where = start if at is None else at
        line = bisect_right(self.lines, where)
        text = " ".join(self.text[where:end].split())
        self.findings.append(Finding(line, where - self.lines[line - 1] + 1, kind, text, status, note))


def check_text(text: str, names: Names = Names()) -> list[Finding]:
    """Every Individeo dependency in `text`, in reading order."""
    scan = _Scan(text)
    # What a src swap cannot reach first, so that their URLs are not read as anything else.
    for match in _IFRAME.finditer(text):
        if "individeo" in match[0].lower():
            scan.add(*match.span(), "iframe preview", "not supported", _PREVIEW_CHANGE)
    for match in _PREVIEW.finditer(text):
        if scan.free(*match.span()):
            scan.add(*match.span(), "iframe preview", "not supported", _PREVIEW_CHANGE)
    for match in _SHORTCODE.finditer(text):
        scan.add(*match.span(), "shortcode", "not supported", _SHORTCODE_CHANGE)
    _check_indi_track(scan)
    for match in _URL.finditer(text):
        host, path = match[1].lower(), match[2] or ""
        if (_INDIVIDEO_HOST.search(host) and ("/api/" in path or host.startswith("api."))
                and scan.free(*match.span())):
            scan.add(*match.span(), "REST API", "not supported", _REST_CHANGE)
    for match in _SCRIPT_SRC.finditer(text):
        if scan.free(*match.span()):
            scan.add(*match.span(), "script src", "supported, note", _SWAP)
    for value in _ready_values(text):
        scan.take(*value.span(1))  # names the page's own function, not a callback
    _check_attributes(scan)
    _check_blueplayer(scan)
    _check_bus(scan, names.page_events)
    for match in _GLOBAL.finditer(text):
        if scan.free(*match.span()):
            found = _GLOBALS[match[1]]
            if _given_individeo_url(text, match.end()):
                scan.add(*match.span(), "global", "not supported", _INDIVIDEO_VALUE)
            else:
                scan.add(*match.span(), "global", *_noted(found.caveat))
    _check_player_calls(scan, _players(text, names.ready_functions))
    for match in _INIT.finditer(text):
        if scan.free(*match.span()):
            scan.add(*match.span(), "method", "supported")
    for match in _ON_NAME.finditer(text):
        fired = _fired_callback(match[2])
        if fired and scan.free(*match.span(2)):
            scan.add(*match.span(2), "callback", *_callback_status(fired))
    return sorted(scan.findings, key=lambda finding: (finding.line, finding.column))


def _check_indi_track(scan: _Scan) -> None:
    for match in _INDITRACK.finditer(scan.text):
        start = match.start()
        while start and scan.text[start - 1] not in _URL_STOP:
            start -= 1  # back to the start of its URL, to see the host
        evt = match[1]
        if evt and wire_event(evt) is None:
            scan.add(start, match.end(), "indiTrack", "not supported",
                     f"The gateway refuses evt={evt} (400 unknown_evt); it accepts "
                     f"{', '.join(WIRE_EVENT_NAMES)}.")
        elif _individeo_url(scan.text[start:match.end()]):
            scan.add(start, match.end(), "indiTrack", "not supported", _INDITRACK_INDIVIDEO)
        else:
            scan.add(start, match.end(), "indiTrack", "supported, note", _INDITRACK_SUPPORTED)


def _check_attributes(scan: _Scan) -> None:
    found = [(match.span(), match[0].lower()) for match in _ATTRIBUTE.finditer(scan.text)]
    # dataset.ivOnReady is data-iv-on-ready.
    found += [(match.span(), "data-" + re.sub("[A-Z]", lambda c: "-" + c[0].lower(), match[1]))
              for match in _DATASET.finditer(scan.text)]
    for (start, end), name in sorted(found):
        attribute = individeo_attribute(name)
        if attribute is None:
            scan.add(start, end, "attribute", "not supported",
                     f"The compat script does not know {name}: it ignores it (a console warning). Remove it, "
                     f"or use an attribute of {_DOC}.")
        elif _given_individeo_url(scan.text, end):
            scan.add(start, end, "attribute", "not supported", _INDIVIDEO_VALUE)
        else:
            scan.add(start, end, "attribute", *_noted(attribute_caveat(attribute)))


def _check_blueplayer(scan: _Scan) -> None:
    for match in _BLUEPLAYER.finditer(scan.text):
        name = match[1]
        if name == CURRENT:
            scan.take(*match.span())  # the page's handle on the player; what it calls is checked
        elif name in _CONSTANTS:
            scan.add(*match.span(), "constant", *_callback_status(_CONSTANTS[name].callback))
        else:
            scan.add(*match.span(), "constant", "not supported",
                     f"BluePlayer.{name} is not a constant of the compat script: undefined after the swap. "
                     f"Use a constant of {_DOC}.")


def _check_bus(scan: _Scan, page_events: frozenset[str]) -> None:
    for match in _BUS.finditer(scan.text):
        method = match[1]
        if method not in BUS_METHODS:
            scan.add(*match.span(), "event bus", "not supported",
                     f"BEM has {', '.join(BUS_METHODS)} only: BEM.{method} is undefined after the swap.")
            continue
        scan.add(*match.span(), "event bus", "supported")
        event = _BUS_EVENT.match(scan.text, match.end())
        if method == "trigger" or not event:
            continue
        name = event[2]
        fired = _fired_callback(name)
        if fired:
            scan.add(*event.span(2), "callback", *_callback_status(fired))
        elif name in page_events:
            scan.take(*event.span(2))  # the page's own event: it triggers it itself
        else:
            scan.add(*event.span(2), "callback", "not supported",
                     f"No Individeo event is called {name!r}: the handler never fires after the swap. "
                     f"Bind a callback or constant of {_DOC}.")


def _check_player_calls(scan: _Scan, players: set[str]) -> None:
    receivers = [r"BluePlayer\s*\??\.\s*" + CURRENT, *map(re.escape, sorted(players))]
    calls = re.compile(r"(?<![\w$])(?:" + "|".join(receivers) + r")\s*\??\.\s*(" + _ID + r")\s*\(")
    for match in calls.finditer(scan.text):
        name = match[1]
        start, end = match.span(1)
        if name in _OBJECT_METHODS or not scan.free(start, end):
            continue
        if name in _METHODS:
            scan.add(start, end, "method", "supported", at=match.start())
        elif callback(name):
            scan.add(start, end, "callback", *_callback_status(name), at=match.start())
        else:
            scan.add(start, end, "method", "not supported",
                     f"The compat script's player has no {name}(): calling it throws after the swap.",
                     at=match.start())
