"""Viewing sessions written as raw objects and compacted: the known data the metric tests assert on.

Events are built as the gateway stores them (validated by the canonical models), grouped into raw
objects per (organization, hour of received_at), and then go through the real compactor.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.curated.compactor import compact
from pipeline.layout import raw_key
from pipeline.raw import rawfile
from pipeline.store.base import Store
from translator.canonical import format_timestamp
from translator.engagement import encode
from translator.event_parser import parse_event

_ids = itertools.count(1)


def viewer(n: int) -> str:
    return f"{n:064x}"


@dataclass
class Session:
    """One iframe load; `at(...)` adds an event `seconds` after `start`."""

    start: datetime
    org: str = "acme"
    project: str = "p1"
    template: str = "t1"
    viewer_hash: str | None = field(default_factory=lambda: viewer(next(_ids)))
    device: tuple[str, str, str] = ("desktop", "Windows", "Chrome")
    is_bot: bool = False
    locale: str = "es-CL"
    country: str = "CL"
    consent: bool = True
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    events: list[dict[str, Any]] = field(default_factory=list)

    def at(self, seconds: float, event_type: str, *, received_after: float = 0.5, **payload: Any) -> Session:
        occurred = self.start + timedelta(seconds=seconds)
        received = occurred + timedelta(seconds=received_after)
        data: dict[str, Any] = {
            "event_id": str(uuid.uuid4()), "schema_version": "1", "event_type": event_type,
            "occurred_at": format_timestamp(occurred), "received_at": format_timestamp(received),
            "organization_id": self.org, "project_id": self.project, "template_id": self.template,
            "session_id": self.session_id, "viewer_hash": self.viewer_hash, "locale": self.locale,
            "device": {"type": self.device[0], "os": self.device[1], "browser": self.device[2],
                       "is_bot": self.is_bot},
            "geo": {"country": self.country}, "payload": payload,
        }
        if self.consent:
            data["consent"] = {"tracking": True, "granted_at": format_timestamp(self.start)}
        else:  # what the consent gate stores: no viewer identifiers
            data["viewer_hash"] = None
        self.events.append(json.loads(parse_event(data).model_dump_json()))
        return self


def write_raw(store: Store, events: list[dict[str, Any]]) -> int:
    """One raw object per (organization, received hour), as the writer would; returns the count."""
    batches: dict[tuple[str, datetime], list[bytes]] = defaultdict(list)
    for event in events:
        received = datetime.fromisoformat(event["received_at"].replace("Z", "+00:00")).astimezone(UTC)
        hour = received.replace(minute=0, second=0, microsecond=0, tzinfo=None)
        batches[event["organization_id"], hour].append(json.dumps(event, separators=(",", ":")).encode())
    for (org, hour), lines in batches.items():
        store.put(raw_key(org, hour, uuid.uuid4().hex), rawfile.encode(lines))
    return len(batches)


def ingest(store: Store, sessions: Sequence[Session], extra: Sequence[dict[str, Any]] = ()) -> None:
    """Write the sessions' events (plus extra events, e.g. duplicates) and compact them."""
    write_raw(store, [event for session in sessions for event in session.events] + list(extra))
    compact(store)


DAY1 = datetime(2026, 11, 24, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
REPEAT_VIEWER = viewer(10**6)


def known_sessions() -> tuple[list[Session], list[dict[str, Any]]]:
    """The sessions the exact-value tests assert on (docs in tests/pipeline/reporting/test_reports.py),
    and extra raw events: a duplicate delivery of an event already sent."""
    at = DAY1 + timedelta(hours=10)
    played = {"position_ms": 0}

    def milestone(percent: float) -> dict[str, Any]:
        return {"position_ms": int(300 * percent), "percent": percent}

    def end(percent: float, watched: range | None = None, again: range = range(0)) -> dict[str, Any]:
        buckets = {} if watched is None else {"watched": encode(watched), "watched_again": encode(again)}
        return {"duration_ms": 30_000, "percent": percent, **buckets}

    # Watched buckets (the engagement curve) come from S1, S2, S8 and S10; the other plays' players
    # sent none.
    acme = [
        # S1: full watch, a CTA click, a chapter; the repeat viewer's first visit.
        Session(at, viewer_hash=REPEAT_VIEWER).at(0, "session.started").at(1, "video.played", **played)
        .at(2, "chapter.entered", chapter_id="intro", chapter_name="Intro")
        .at(9, "video.progressed", **milestone(25)).at(16, "video.progressed", **milestone(50))
        .at(23, "video.progressed", **milestone(75)).at(31, "video.completed", **end(100, range(100)))
        .at(32, "cta.clicked", cta_id="buy", cta_name="Buy now"),
        # S2: left at 40 % on a phone in the US, after a pause at 20 % and a seek back to 10 %; the
        # pause's buckets are a part of the last ones (each event holds the session's picture so far).
        Session(at + timedelta(minutes=5), device=("mobile", "iOS", "Mobile Safari"), locale="en-US",
                country="US").at(0, "session.started").at(1, "video.played", **played)
        .at(5, "video.paused", position_ms=6000, watched=encode(range(20)), watched_again=encode(()))
        .at(9, "video.progressed", **milestone(25))
        .at(14, "video.incomplete", **end(40, range(40), range(10, 20))),
        # S3: a short video: the 75 % milestone fires late (80 %), 25/50 never fire, then completes.
        Session(at + timedelta(hours=1)).at(0, "session.started").at(1, "video.played", **played)
        .at(3, "video.progressed", **milestone(80)).at(4, "video.completed", **end(100)),
        # S4: a short video: only the 50 % milestone (at 60 %), then left there.
        Session(at + timedelta(hours=1)).at(0, "session.started").at(1, "video.played", **played)
        .at(2, "video.progressed", **milestone(60)).at(3, "video.incomplete", **end(60)),
        # S5: autoplay blocked, never played.
        Session(at + timedelta(hours=2)).at(0, "session.started")
        .at(1, "autoplay.failed", reason="NotAllowedError"),
        # S6: the player failed before any play.
        Session(at + timedelta(hours=2)).at(0, "session.started")
        .at(1, "video.errored", error_code="MEDIA_ERR_DECODE"),
        # S7: an error after playback started, then left at 10 %.
        Session(at + timedelta(hours=3)).at(0, "session.started").at(1, "video.played", **played)
        .at(5, "video.errored", error_code="MEDIA_ERR_NETWORK").at(6, "video.incomplete", **end(10)),
        # S8: starts at 23:59:30 on day 1 and completes after midnight (another project and template).
        Session(DAY2 - timedelta(seconds=30), project="p2", template="t2").at(0, "session.started")
        .at(1, "video.played", **played).at(35, "video.progressed", **milestone(25))
        .at(45, "video.progressed", **milestone(50)).at(55, "video.progressed", **milestone(75))
        .at(70, "video.completed", **end(100, range(100), range(50, 60))),
        # S9: a bot: excluded unless asked for.
        Session(at + timedelta(hours=4), is_bot=True).at(0, "session.started").at(1, "video.played", **played)
        .at(31, "video.completed", **end(100)).at(32, "cta.clicked", cta_id="buy", cta_name="Buy now"),
        # S10: day 2, the repeat viewer: two chapters, an interaction, left at 30 %.
        Session(DAY2 + timedelta(hours=10), viewer_hash=REPEAT_VIEWER).at(0, "session.started")
        .at(1, "video.played", **played).at(2, "chapter.entered", chapter_id="intro", chapter_name="Intro")
        .at(5, "interaction.engaged", interaction_id="survey").at(8, "chapter.entered", chapter_id="offer")
        .at(9, "video.incomplete", **end(30, range(30))),
        # An error without consent: no viewer identifiers; counts in errors only.
        Session(at + timedelta(hours=5), consent=False)
        .at(0, "video.errored", error_code="MEDIA_ERR_NETWORK"),
        # Tracking declined: an audit event, not a view.
        Session(at + timedelta(hours=5), consent=False).at(0, "consent.declined"),
    ]
    globex = [
        Session(at, org="globex", viewer_hash=REPEAT_VIEWER).at(0, "session.started")
        .at(1, "video.played", **played).at(31, "video.completed", **end(100)),
        Session(at, org="globex").at(0, "session.started"),
    ]
    duplicate = dict(acme[1].events[1], received_at=format_timestamp(at + timedelta(hours=1)))
    return acme + globex, [duplicate]
