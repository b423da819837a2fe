"""Known sessions, outcomes and an audience (acme and globex, 2026-11-24/25) and the outcomes report's
exact numbers for them: the data of the outcomes report's tests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pipeline import layout
from pipeline.governance.viewer_keys import ViewerKeys
from pipeline.outcomes.intake import add_members, store_outcomes
from pipeline.outcomes.rows import parse_outcome
from pipeline.reporting.selection import Selection
from pipeline.store.base import Store
from tests.pipeline._sessions import Session, ingest

KEYS = ViewerKeys.parse("v1:outcomes-report-key")
D1 = datetime(2026, 11, 24, tzinfo=UTC)
D2 = D1 + timedelta(days=1)
RANGE = Selection(date_from=D1.date(), date_to=D2.date())
TODAY = date(2027, 3, 1)  # every window closed; the report never reads the clock when told the day
NOW = datetime(2027, 3, 1, tzinfo=UTC)


def client(n: int) -> str:
    """The client-side hash of viewer n (what a CRM computes)."""
    return f"{n:02d}" + "c" * 62


def keyed(n: int) -> str:
    return KEYS.keyed(client(n))


def played(session: Session, percent: float, *, completed: bool = False) -> Session:
    session.at(0, "session.started").at(1, "video.played", position_ms=0)
    if completed:
        return session.at(30, "video.completed", duration_ms=30_000, percent=100)
    return session.at(20, "video.incomplete", duration_ms=30_000, percent=percent)


def known_outcomes(store: Store) -> None:
    """V1 completed (+ CTA buy), V2 played 40 %, V3 viewed without playing, V4 10 % then completed
    the next day (+ CTA call), V5 80 %; V6 and V7 only in the audience; V8 a bot; V9 after the range."""
    at = D1 + timedelta(hours=10)
    sessions = [
        played(Session(at, viewer_hash=keyed(1)), 100, completed=True).at(31, "cta.clicked", cta_id="buy",
                                                                         cta_name="Buy now"),
        played(Session(at + timedelta(minutes=5), viewer_hash=keyed(2)), 40),
        Session(D2 + timedelta(hours=12), viewer_hash=keyed(3)).at(0, "session.started"),
        played(Session(at + timedelta(hours=1), viewer_hash=keyed(4)), 10),
        played(Session(D2 + timedelta(hours=8), viewer_hash=keyed(4)), 100, completed=True)
        .at(31, "cta.clicked", cta_id="call", cta_name="Call me"),
        played(Session(at + timedelta(hours=2), viewer_hash=keyed(5)), 80),
        played(Session(at, viewer_hash=keyed(8), is_bot=True), 100, completed=True),
        played(Session(D2 + timedelta(days=3), viewer_hash=keyed(9)), 100, completed=True),
        played(Session(at, org="globex", viewer_hash=keyed(1)), 100, completed=True),
    ]
    ingest(store, sessions)

    def outcome(n: int, occurred: datetime, name: str = "policy_renewed", **value: Any) -> Any:
        return parse_outcome({"outcome_id": str(uuid.uuid4()), "viewer_hash": client(n), "name": name,
                              "occurred_at": occurred.isoformat(), **value}, now=NOW)

    acme = [
        outcome(1, at + timedelta(days=5), value="100", currency="EUR"),
        outcome(1, at + timedelta(days=40), value="999", currency="EUR"),  # after the window
        outcome(2, at - timedelta(hours=1)),  # before the first view
        outcome(3, D2 + timedelta(days=2, hours=12), value=50, currency="EUR"),
        outcome(3, D2 + timedelta(days=3, hours=12), value="25.25", currency="USD"),
        outcome(4, at + timedelta(days=2, hours=1), value="10.5", currency="EUR"),
        outcome(5, at + timedelta(days=1), name="newsletter"),  # another outcome
        outcome(6, D1 + timedelta(days=10)),
        outcome(8, at + timedelta(days=1)),  # a bot's
        outcome(9, D2 + timedelta(days=4)),  # viewed after the range only
    ]
    store_outcomes(store, "acme", acme, KEYS, received_at=NOW)
    store_outcomes(store, "globex", [outcome(1, at + timedelta(days=1))], KEYS, received_at=NOW)
    add_members(store, "acme", "letters", [client(n) for n in (1, 6, 7)], KEYS, received_at=NOW)
    # Two racing posts of one outcome id: stored twice, counted once.
    first = next(key for key in store.list(layout.OUTCOMES.org_prefix("acme")) if "2026-11-29" in key)
    store.put(first.replace(first.rsplit("/", 1)[1], "racing-copy.parquet"), store.get(first))


EXPECTED_COHORTS = [
    {"cohort": "not_viewed", "people": 2, "converted": 1, "conversion_rate": 0.5, "value": {},
     "median_days_to_convert": 10.0},
    {"cohort": "viewed_not_played", "people": 1, "converted": 1, "conversion_rate": 1.0,
     "value": {"EUR": "50", "USD": "25.25"}, "median_days_to_convert": 2.0},
    {"cohort": "played_under_25", "people": 0, "converted": 0, "conversion_rate": None, "value": {},
     "median_days_to_convert": None},
    {"cohort": "played_25_74", "people": 1, "converted": 0, "conversion_rate": 0.0, "value": {},
     "median_days_to_convert": None},
    {"cohort": "played_75_99", "people": 1, "converted": 0, "conversion_rate": 0.0, "value": {},
     "median_days_to_convert": None},
    {"cohort": "completed", "people": 2, "converted": 2, "conversion_rate": 1.0, "value": {"EUR": "110.5"},
     "median_days_to_convert": round((5 + (2 + 1 / 24 - 1 / 24)) / 2, 4)},
]
EXPECTED_CTAS = [
    {"cta_id": "buy", "cta_name": "Buy now", "people": 1, "converted": 1, "conversion_rate": 1.0},
    {"cta_id": "call", "cta_name": "Call me", "people": 1, "converted": 1, "conversion_rate": 1.0},
]
