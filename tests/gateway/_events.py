"""Valid canonical events as a client would send them, one per event type."""

from __future__ import annotations

import uuid
from typing import Any

from translator.canonical import EVENT_TYPES

VIEWER_HASH = "ab" * 32

PAYLOADS: dict[str, dict[str, Any]] = {
    "session.started": {},
    "video.played": {"position_ms": 1000},
    "video.paused": {"position_ms": 2000},
    "video.progressed": {"position_ms": 7500, "percent": 25},
    "video.completed": {"duration_ms": 30000, "percent": 97},
    "video.incomplete": {"duration_ms": 30000, "percent": 40},
    "video.errored": {"error_code": "MEDIA_ERR_NETWORK", "error_message": "network failed"},
    "cta.clicked": {"cta_id": "cta-1", "cta_name": "Contact me", "position_ms": 12000},
    "interaction.engaged": {"interaction_id": "form-1", "interaction_name": "Survey"},
    "chapter.entered": {"chapter_id": "ch-2", "chapter_name": "Offer"},
    "chapter.exited": {"chapter_id": "ch-2", "position_ms": 20000},
    "consent.accepted": {},
    "consent.declined": {},
    "autoplay.failed": {"reason": "NotAllowedError"},
}
assert set(PAYLOADS) == set(EVENT_TYPES)


def event(event_type: str = "video.played", *, consent: bool | None = True, **fields: Any) -> dict[str, Any]:
    """A valid event of `event_type`; consent None leaves the consent object out."""
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "schema_version": "1",
        "event_type": event_type,
        "occurred_at": "2026-11-25T10:00:00.123Z",
        "session_id": str(uuid.uuid4()),
        "viewer_hash": VIEWER_HASH,
        "playback_id": 1,
        "template_id": "tpl-1",
        "locale": "es-CL",
        "payload": PAYLOADS.get(event_type, {}),
    }
    if consent is not None:
        body["consent"] = {"tracking": consent, "granted_at": "2026-11-25T09:59:00.000Z"}
    body.update(fields)
    return body
