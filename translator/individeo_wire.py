"""Individeo's tracking wire format: the whitelisted `evt` names and the body fields each carries.

Individeo's tracker posts `{base}/api/indiTrack?evt=TYPE` with a JSON body (`event`, `trackerKey`,
`trackerGroupKey` and event-specific name/value pairs). Only the twelve names of the whitelist ever
reach the server (design section 8.4). Each maps to one canonical event, or to None: accepted,
audited, not an engagement event. Only the fields named here are read; the rest of a body is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WireEvent:
    name: str
    event_type: str | None  # None: accepted and audited, no canonical event
    # The body field naming the thing clicked or entered: required, and both its id and its name.
    identity: tuple[str, str] | None = None  # (body field, canonical id field)
    fields: tuple[tuple[str, str], ...] = ()  # (body field, canonical payload field)
    consent_tracking: bool | None = True  # the consent a post implies; None for audited posts
    note: str = ""


@dataclass(frozen=True)
class ContextField:
    legacy: str
    canonical: str
    note: str


_CTA_IDENTITY = ("ctaName", "cta_id")
_CTA_FIELDS = (("ctaName", "cta_name"), ("ctaValue", "cta_value"))

WIRE_EVENTS: tuple[WireEvent, ...] = (
    WireEvent("pageLoad", "session.started", note="The tracker loaded with the page: a session begins."),
    WireEvent("pageReload", "session.started",
              note="A reload is a new view (section 4). Views count distinct sessions, so a reload "
                   "that keeps its trackerKey is not counted twice."),
    WireEvent("onCTA", "cta.clicked", _CTA_IDENTITY, _CTA_FIELDS),
    WireEvent("onServiceCTA", "cta.clicked", _CTA_IDENTITY, _CTA_FIELDS,
              note="A service CTA is a CTA to analytics."),
    WireEvent("onInteraction", "interaction.engaged", identity=("interactionName", "interaction_id"),
              fields=(("interactionName", "interaction_name"), ("interactionValue", "interaction_value"))),
    WireEvent("onChapterEnter", "chapter.entered", identity=("chapterName", "chapter_id"),
              fields=(("chapterName", "chapter_name"),)),
    WireEvent("onEvent", "interaction.engaged", identity=("eventName", "interaction_id"),
              fields=(("eventName", "interaction_name"), ("eventValue", "interaction_value")),
              note="A page-defined event, kept as an interaction named after it."),
    WireEvent("onLog", None, consent_tracking=None,
              note="Diagnostic log line: audited, never stored (free text may hold anything)."),
    WireEvent("onConsentAccepted", "consent.accepted", note="Audit event; granted_at is its time."),
    WireEvent("onConsentDeclined", "consent.declined", consent_tracking=False,
              note="Audit event; the only legacy post without consent."),
    WireEvent("onGATracking", None, consent_tracking=None,
              note="A Google Analytics mirror of another event, which arrives under its own name."),
    WireEvent("onTrackerKeyDefined", None, consent_tracking=None,
              note="The tracker announcing its key; the session itself begins with pageLoad."),
)

# Fields any post may carry besides the event's own. Body organization fields are never read.
CONTEXT_FIELDS: tuple[ContextField, ...] = (
    ContextField("event", "event_type", "The evt name again; must agree with ?evt= when both are given."),
    ContextField("trackerGroupKey", "organization_id",
                 "Required. Bound to an organization by the gateway (`percus org create "
                 "--legacy-group-key`); an unregistered key is refused with 403."),
    ContextField("trackerKey", "session_id",
                 "Required for engagement events. uuid5 of the organization and the key."),
    ContextField("projectCode", "project_id", "Used when it is a valid id, else the default project."),
    ContextField("mediaId", "template_id", "Optional."),
    ContextField("mediaCode", "template_version", "Optional."),
    ContextField("lang", "locale", "Optional; dropped with a warning when it is not a language tag."),
)

WIRE_EVENT_NAMES: tuple[str, ...] = tuple(event.name for event in WIRE_EVENTS)
_BY_FOLDED_NAME = {event.name.lower(): event for event in WIRE_EVENTS}


def wire_event(name: str) -> WireEvent | None:
    """The whitelisted event called `name`, ignoring case and surrounding blanks."""
    return _BY_FOLDED_NAME.get(name.strip().lower())
