"""A minimal valid payload per event type (tests/translator/test_canonical.py proves the table covers
them all): what the translator's and the compactor's tests build their events from."""

from __future__ import annotations

from typing import Any

PAYLOADS: dict[str, dict[str, Any]] = {
    "session.started": {},
    "video.played": {"position_ms": 0},
    "video.paused": {"position_ms": 1200},
    "video.progressed": {"position_ms": 7500, "percent": 25},
    "video.completed": {"duration_ms": 30000, "percent": 100},
    "video.incomplete": {"duration_ms": 30000, "percent": 40.5},
    "video.errored": {"error_code": "MEDIA_ERR_DECODE", "error_message": "decode failed"},
    "cta.clicked": {"cta_id": "cta-1", "cta_name": "Simulate", "cta_value": "yes", "position_ms": 9000},
    "interaction.engaged": {"interaction_id": "form-1", "interaction_name": "Survey",
                            "interaction_value": "4", "position_ms": 100},
    "chapter.entered": {"chapter_id": "c1", "chapter_name": "Intro", "position_ms": 0},
    "chapter.exited": {"chapter_id": "c1", "position_ms": 5000},
    "consent.accepted": {},
    "consent.declined": {},
    "autoplay.failed": {"reason": "NotAllowedError"},
}
