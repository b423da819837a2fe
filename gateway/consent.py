"""The consent gate: which events may be stored without the viewer's consent, and in what form."""

from __future__ import annotations

from translator.canonical import CONSENT_FREE_TYPES, VIEWER_IDENTIFIERS, Envelope
from translator.event_parser import EventError

_STRIPPED = dict.fromkeys(VIEWER_IDENTIFIERS)


def gate(event: Envelope) -> dict[str, None]:
    """Fields to blank before storing `event`, or EventError("consent_required").

    Viewer identifiers are stored only with consent.tracking = true, and never on consent.declined: a
    viewer who declined is not to be recognised. consent.* are audit events and always pass.
    video.errored is operational telemetry: without consent it passes, without viewer identifiers
    (session_id stays: it is a random id per page load that lets errors be grouped, and links to
    nothing outside that page load).
    """
    consent = event.consent
    return gate_type(event.event_type, consent is not None and consent.tracking)  # type: ignore[attr-defined]


def gate_type(event_type: str, tracking: bool) -> dict[str, None]:
    """gate of an event of `event_type` sent with consent.tracking = `tracking` (False: without consent)."""
    if event_type == "consent.declined":
        return _STRIPPED
    if tracking:
        return {}
    if event_type not in CONSENT_FREE_TYPES:
        raise EventError(
            "consent_required",
            f"{event_type} needs consent.tracking = true; only consent.* and video.errored are accepted "
            "without consent",
            "consent.tracking",
        )
    return _STRIPPED
