"""Known sessions as a client posts them (over HTTP, to any gateway), with the exact metrics they give.

All of organization acme, project p1, started within the last two hours; viewer hashes as the SDK
computes them; device and bot status come from the User-Agent of each post:
  S1  desktop Chrome: played, 25/50/75 %, completed, a CTA click (the click arrives late)
  S2  iPhone: played, 25 %, left at 40 %; its video.played is resent in another request
  S3  S1's viewer again: autoplay blocked, never played
  S4  the player failed before any play
  S5  Googlebot: played and completed (a bot: stored and flagged, not in reports)
  and, without consent, one error (stored without viewer ids) and one consent.declined (no view)
`first` are posted first; `late` after a first compaction: S1's click, and a resend of S1's
completion, which the compactor must drop.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

# Views 4 (S1-S4), unique viewers 3 (S3 is S1's viewer), plays 2, completions 1, one CTA click, errors
# 2 (S4's and the anonymous one), playback failures 1 (S4), autoplay failures 1 and exits before start
# 1 (S3: no play and no error).
EXPECTED = {"views": 4, "unique_viewers": 3, "plays": 2, "completions": 1, "completion_rate": 0.5,
            "cta_clicks": 1, "cta_ctr": 0.25, "errors": 2, "playback_failures": 1, "autoplay_failures": 1,
            "exits_before_start": 1}
UNIQUE_EVENTS = 20  # 19 in the first posts (the resend is a duplicate), the late click


class Session:
    def __init__(self, start: datetime, viewer_hash: str | None, consent: bool = True) -> None:
        self.start, self.viewer_hash, self.consent = start, viewer_hash, consent
        self.session_id = str(uuid.uuid4())

    def event(self, seconds: float, event_type: str, **payload: Any) -> dict[str, Any]:
        at = (self.start + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        body: dict[str, Any] = {"event_id": str(uuid.uuid4()), "schema_version": "1",
                                "event_type": event_type, "occurred_at": at, "session_id": self.session_id,
                                "locale": "es-CL", "template_id": "t1", "payload": payload}
        if self.consent:
            body |= {"viewer_hash": self.viewer_hash, "consent": {"tracking": True}}
        return body


@dataclass
class KnownPosts:
    first: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)  # (User-Agent, batch)
    late: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    resent: tuple[str, list[dict[str, Any]]] | None = None  # within the first posts: a duplicate
    bot_session: str = ""
    failing_session: Session | None = None


def known_posts(now: datetime | None = None) -> KnownPosts:
    start = (now or datetime.now(UTC)).replace(microsecond=0) - timedelta(hours=2)
    s1, s2 = Session(start, "a1" * 32), Session(start + timedelta(minutes=5), "b2" * 32)
    s3 = Session(start + timedelta(minutes=10), "a1" * 32)
    s4 = Session(start + timedelta(minutes=15), "c3" * 32)
    s5 = Session(start + timedelta(minutes=20), "d4" * 32)
    anonymous = Session(start + timedelta(minutes=25), None, consent=False)
    s2_played = s2.event(1, "video.played", position_ms=0)
    s1_completed = s1.event(31, "video.completed", duration_ms=30_000, percent=100)
    posts = KnownPosts(bot_session=s5.session_id, failing_session=s4)
    posts.first = [
        (CHROME, [s1.event(0, "session.started"), s1.event(1, "video.played", position_ms=0),
                  s1.event(9, "video.progressed", position_ms=7_500, percent=25),
                  s1.event(16, "video.progressed", position_ms=15_000, percent=50),
                  s1.event(23, "video.progressed", position_ms=22_500, percent=75), s1_completed]),
        (IPHONE, [s2.event(0, "session.started"), s2_played,
                  s2.event(9, "video.progressed", position_ms=7_500, percent=25),
                  s2.event(14, "video.incomplete", duration_ms=30_000, percent=40)]),
        (CHROME, [s3.event(0, "session.started"), s3.event(1, "autoplay.failed", reason="NotAllowedError"),
                  s4.event(0, "session.started"),
                  s4.event(1, "video.errored", error_code="MEDIA_ERR_DECODE")]),
        (GOOGLEBOT, [s5.event(0, "session.started"), s5.event(1, "video.played", position_ms=0),
                     s5.event(31, "video.completed", duration_ms=30_000, percent=100)]),
        (CHROME, [anonymous.event(0, "video.errored", error_code="MEDIA_ERR_NETWORK"),
                  anonymous.event(1, "consent.declined")]),
    ]
    posts.resent = (IPHONE, [s2_played])
    posts.late = [(CHROME, [s1.event(32, "cta.clicked", cta_id="advisor", cta_name="Advisor",
                                     position_ms=29_000), s1_completed])]
    return posts
