"""Reports over a known set of sessions that went through the real compactor (tests/pipeline/_sessions.py).

acme, bots excluded, days 1-2 (2026-11-24/25):
  views 9 (S1-S8 on day 1, S10 on day 2; the bot S9, the error without consent and the declined
  session are not views), unique viewers 8 (S10 is S1's viewer), plays 7 (S1-S4, S7, S8, S10),
  completions 3 (S1, S3, S8), reach 25 % 6 / 50 % 4 / 75 % 3, max percents 100+40+100+60+10+100+30,
  one CTA view, one interaction, errors 3 (two MEDIA_ERR_NETWORK, one MEDIA_ERR_DECODE),
  one playback failure (S6), one exit before start (S5), one autoplay failure (S5).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.reporting import reports
from pipeline.reporting.rollups import build_rollups
from pipeline.reporting.selection import Selection
from pipeline.store.local import LocalStore
from tests.pipeline._sessions import Session, ingest, known_sessions

D1, D2 = date(2026, 11, 24), date(2026, 11, 25)
TODAY = date(2026, 11, 30)  # every scenario day is closed
RANGE = Selection(date_from=D1, date_to=D2)

EXPECTED = {
    "views": 9, "unique_viewers": 8, "plays": 7, "play_rate": round(7 / 9, 6), "completions": 3,
    "completion_rate": round(3 / 7, 6), "reach_25": round(6 / 7, 6), "reach_50": round(4 / 7, 6),
    "reach_75": round(3 / 7, 6), "reach_100": round(3 / 7, 6), "avg_max_percent": round(440 / 7, 6),
    "cta_clicks": 1, "cta_sessions": 1, "cta_ctr": round(1 / 9, 6), "interactions": 1,
    "interaction_rate": round(1 / 9, 6), "errors": 3, "playback_failures": 1,
    "playback_failure_rate": round(1 / 9, 6), "exits_before_start": 1,
    "exit_before_start_rate": round(1 / 9, 6),
    "autoplay_failures": 1, "autoplay_failure_rate": round(1 / 9, 6),
}


@pytest.fixture(scope="module")
def compacted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario compacted once, never rolled up; tests copy it before changing it."""
    root = tmp_path_factory.mktemp("compacted")
    sessions, duplicates = known_sessions()
    ingest(LocalStore(root), sessions, duplicates)
    return root


@pytest.fixture
def store(compacted: Path, tmp_path: Path) -> LocalStore:
    shutil.copytree(compacted, tmp_path / "data")
    return LocalStore(tmp_path / "data")


@pytest.fixture(scope="module")
def rolled(compacted: Path, tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    """The scenario with every day rolled up (read only)."""
    root = tmp_path_factory.mktemp("rolled") / "data"
    shutil.copytree(compacted, root)
    store = LocalStore(root)
    build_rollups(store, today=TODAY)
    return store


@pytest.mark.parametrize("fixture", ["compacted", "rolled"])
def test_summary_has_the_exact_values_of_the_known_sessions(fixture: str,
                                                            request: pytest.FixtureRequest) -> None:
    data = request.getfixturevalue(fixture)
    engine = DuckDbEngine(data if isinstance(data, LocalStore) else LocalStore(data))
    assert reports.summary(engine, "acme", RANGE, today=TODAY) == EXPECTED


def test_summary_from_rollups_equals_summary_from_curated(store: LocalStore) -> None:
    engine = DuckDbEngine(store)
    cases = [RANGE, replace(RANGE, date_to=D1), replace(RANGE, date_from=D2), replace(RANGE, project_id="p2"),
             replace(RANGE, template_id="t1"), replace(RANGE, include_bots=True), Selection()]
    from_curated = [reports.summary(engine, "acme", case, today=TODAY) for case in cases]
    assert reports.plan(engine, "acme", D1, D2, today=TODAY).rolled == ()

    build_rollups(store, day=D1)  # day 2 still from curated: one query mixes both
    mixed = reports.plan(engine, "acme", D1, D2, today=TODAY)
    assert (mixed.rolled, mixed.unrolled) == ((D1,), (D2,))
    assert [reports.summary(engine, "acme", case, today=TODAY) for case in cases] == from_curated

    build_rollups(store, today=TODAY)
    assert reports.plan(engine, "acme", D1, D2, today=TODAY).unrolled == ()
    assert [reports.summary(engine, "acme", case, today=TODAY) for case in cases] == from_curated


def test_daily_summaries_are_the_summary_of_each_day_in_one_query(store: LocalStore) -> None:
    engine = DuckDbEngine(store)
    wide = Selection(date_from=D1 - timedelta(days=2), date_to=D2 + timedelta(days=2))
    cases = [wide, replace(wide, project_id="p2"), replace(wide, include_bots=True),
             replace(wide, project_id="none")]

    def per_day(case: Selection) -> list[tuple[date, dict[str, object]]]:
        first, last = case.date_from, case.date_to
        assert first is not None and last is not None
        return [(day, reports.summary(engine, "acme", replace(case, date_from=day, date_to=day), today=TODAY))
                for day in (first + timedelta(days=n) for n in range((last - first).days + 1))]

    for rolled_up in ((), (D1,), (D1, D2)):  # curated only, one query mixing both, rollups only
        for day in rolled_up:
            build_rollups(store, day=day)
        assert reports.plan(engine, "acme", D1, D2, today=TODAY).rolled == rolled_up
        for case in cases:
            assert reports.daily_summaries(engine, "acme", case, today=TODAY) == per_day(case)
    views = [values["views"] for _, values in reports.daily_summaries(engine, "acme", wide, today=TODAY)]
    assert views == [0, 0, 8, 1, 0, 0]


def test_a_session_crossing_midnight_counts_once_on_the_day_it_started(rolled: LocalStore) -> None:
    engine = DuckDbEngine(rolled)
    day1 = reports.summary(engine, "acme", Selection(date_from=D1, date_to=D1))
    day2 = reports.summary(engine, "acme", Selection(date_from=D2, date_to=D2))
    s8 = reports.summary(engine, "acme", replace(RANGE, project_id="p2"), today=TODAY)
    # S8's milestones and its completion came after midnight.
    assert (s8["views"], s8["completions"], s8["reach_75"]) == (1, 1, 1.0)
    assert (day1["views"], day1["plays"], day1["completions"], day1["errors"]) == (8, 6, 3, 3)
    assert (day2["views"], day2["plays"], day2["completions"], day2["errors"]) == (1, 1, 0, 0)
    assert day1["unique_viewers"] + day2["unique_viewers"] == 9  # the repeat viewer, once per day
    assert reports.summary(engine, "acme", RANGE, today=TODAY)["unique_viewers"] == 8  # and once over both


def test_bots_are_excluded_unless_asked_for(rolled: LocalStore) -> None:
    engine = DuckDbEngine(rolled)
    with_bots = reports.summary(engine, "acme", replace(RANGE, include_bots=True), today=TODAY)
    assert (with_bots["views"], with_bots["plays"], with_bots["completions"], with_bots["cta_sessions"]) == (
        10, 8, 4, 2)
    assert reports.ctas(engine, "acme", RANGE, today=TODAY)["ctas"][0]["clicks"] == 1


@pytest.mark.parametrize("fixture", ["store", "rolled"])
def test_organizations_never_see_each_others_sessions(fixture: str, request: pytest.FixtureRequest) -> None:
    engine = DuckDbEngine(request.getfixturevalue(fixture))
    globex = reports.summary(engine, "globex", RANGE, today=TODAY)
    assert (globex["views"], globex["unique_viewers"], globex["plays"], globex["completions"]) == (2, 2, 1, 1)
    # The same project name and the same viewer hash in both organizations change nothing in acme's.
    assert reports.summary(engine, "acme", RANGE, today=TODAY) == EXPECTED
    assert reports.summary(engine, "nobody", RANGE, today=TODAY)["views"] == 0


@pytest.mark.parametrize("fixture", ["compacted", "rolled"])
def test_item_reports(fixture: str, request: pytest.FixtureRequest) -> None:
    data = request.getfixturevalue(fixture)
    engine = DuckDbEngine(data if isinstance(data, LocalStore) else LocalStore(data))
    assert reports.dropoff(engine, "acme", RANGE, today=TODAY) == {"plays": 7, "milestones": [
        {"percent": 25, "sessions": 6, "fraction": round(6 / 7, 6)},
        {"percent": 50, "sessions": 4, "fraction": round(4 / 7, 6)},
        {"percent": 75, "sessions": 3, "fraction": round(3 / 7, 6)},
        {"percent": 100, "sessions": 3, "fraction": round(3 / 7, 6)}]}
    assert reports.ctas(engine, "acme", RANGE, today=TODAY) == {
        "views": 9, "plays": 7, "cta_sessions": 1, "cta_clicks": 1, "cta_ctr": round(1 / 9, 6),
        "ctas": [{"cta_id": "buy", "cta_name": "Buy now", "clicks": 1, "sessions": 1,
                  "cta_ctr": round(1 / 9, 6)}]}
    assert reports.chapters(engine, "acme", RANGE, today=TODAY) == {"plays": 7, "chapters": [
        {"chapter_id": "intro", "chapter_name": "Intro", "entries": 2, "sessions": 2,
         "chapter_reach": round(2 / 7, 6)},
        {"chapter_id": "offer", "chapter_name": None, "entries": 1, "sessions": 1,
         "chapter_reach": round(1 / 7, 6)}]}
    assert reports.errors(engine, "acme", RANGE, today=TODAY) == {"errors": 3, "codes": [
        {"error_code": "MEDIA_ERR_NETWORK", "errors": 2, "sessions": 2, "share": round(2 / 3, 6)},
        {"error_code": "MEDIA_ERR_DECODE", "errors": 1, "sessions": 1, "share": round(1 / 3, 6)}]}
    countries = reports.breakdown(engine, "acme", "country", RANGE, today=TODAY)
    assert [(row["value"], row["views"], row["plays"], row["share"]) for row in countries["rows"]] == [
        ("CL", 8, 6, round(8 / 9, 6)), ("US", 1, 1, round(1 / 9, 6))]
    us = countries["rows"][1]
    assert (us["completion_rate"], us["reach_25"], us["avg_max_percent"]) == (0.0, 1.0, 40.0)
    devices = reports.breakdown(engine, "acme", "device_type", RANGE, today=TODAY)
    assert [(row["value"], row["views"]) for row in devices["rows"]] == [("desktop", 8), ("mobile", 1)]


def _curve(watched: dict[int, int], again: dict[int, int], plays_with_data: int) -> list[dict[str, object]]:
    def share(count: int) -> float | None:
        return round(count / plays_with_data, 6) if plays_with_data else None

    return [{"bucket": b, "watched": watched.get(b, 0), "watched_again": again.get(b, 0),
             "watched_share": share(watched.get(b, 0)), "watched_again_share": share(again.get(b, 0))}
            for b in range(100)]


@pytest.mark.parametrize("fixture", ["compacted", "rolled"])
def test_engagement_gives_exact_shares_of_the_plays_with_watched_buckets(
        fixture: str, request: pytest.FixtureRequest) -> None:
    """S1 and S8 watched all of it, S2 0-39 (10-19 twice), S10 0-29, S8 50-59 twice; S3, S4 and S7
    played without watched buckets."""
    data = request.getfixturevalue(fixture)
    engine = DuckDbEngine(data if isinstance(data, LocalStore) else LocalStore(data))
    watched = {b: 2 + (b < 40) + (b < 30) for b in range(100)}
    again = {b: 1 for b in (*range(10, 20), *range(50, 60))}
    assert reports.engagement(engine, "acme", RANGE, today=TODAY) == {
        "plays": 7, "plays_with_data": 4, "plays_without_data": 3, "avg_watched_percent": 67.5,
        "avg_max_percent": round(440 / 7, 6), "buckets": _curve(watched, again, 4)}
    p2 = reports.engagement(engine, "acme", replace(RANGE, project_id="p2"), today=TODAY)
    assert (p2["plays"], p2["plays_with_data"], p2["avg_watched_percent"]) == (1, 1, 100.0)
    assert p2["buckets"] == _curve(dict.fromkeys(range(100), 1), dict.fromkeys(range(50, 60), 1), 1)
    with_bots = reports.engagement(engine, "acme", replace(RANGE, include_bots=True), today=TODAY)
    assert (with_bots["plays_with_data"], with_bots["plays_without_data"]) == (4, 4)  # S9 sent none
    nothing = reports.engagement(engine, "nobody", RANGE, today=TODAY)
    assert (nothing["plays"], nothing["avg_watched_percent"], nothing["buckets"][0]["watched_share"]) == (
        0, None, None)


def test_sessions_without_watched_buckets_count_in_every_other_report(rolled: LocalStore,
                                                                     tmp_path: Path) -> None:
    """The same sessions from a player that sends no buckets: every other report is unchanged."""
    sessions, duplicates = known_sessions()
    for event in (e for session in sessions for e in session.events):
        if "watched" in event["payload"]:
            event["payload"].update(watched=None, watched_again=None)
    bare = LocalStore(tmp_path / "bare")
    ingest(bare, sessions, duplicates)
    build_rollups(bare, today=TODAY)
    for fixture in (rolled, bare):
        engine = DuckDbEngine(fixture)
        assert reports.summary(engine, "acme", RANGE, today=TODAY) == EXPECTED
    with_buckets, without = DuckDbEngine(rolled), DuckDbEngine(bare)
    for name in ("dropoff", "ctas", "chapters", "errors", "daily_summaries"):
        report = getattr(reports, name)
        assert report(without, "acme", RANGE, today=TODAY) == report(with_buckets, "acme", RANGE, today=TODAY)
    for dimension in ("device_type", "country"):
        assert (reports.breakdown(without, "acme", dimension, RANGE, today=TODAY)
                == reports.breakdown(with_buckets, "acme", dimension, RANGE, today=TODAY))
    curve = reports.engagement(without, "acme", RANGE, today=TODAY)
    assert (curve["plays"], curve["plays_with_data"], curve["plays_without_data"]) == (7, 0, 7)
    assert curve["avg_watched_percent"] is None and curve["avg_max_percent"] == round(440 / 7, 6)


def test_days_not_closed_are_read_from_curated_even_when_rolled_up(store: LocalStore) -> None:
    engine = DuckDbEngine(store)
    build_rollups(store, day=D2)  # built while day 2 is still open
    late = Session(datetime(2026, 11, 25, 20, 0, tzinfo=UTC)).at(0, "session.started")
    ingest(store, [late])
    assert reports.plan(engine, "acme", D2, D2, today=D2).rolled == ()
    assert reports.summary(engine, "acme", Selection(date_from=D2, date_to=D2), today=D2)["views"] == 2
    later = D2 + timedelta(days=2)
    assert reports.plan(engine, "acme", D2, D2, today=later).rolled == (D2,)  # closed: the rollup counts
    assert ("acme", D2) in build_rollups(store, today=later).days_built  # and is rebuilt: its inputs changed
    assert reports.summary(engine, "acme", Selection(date_from=D2, date_to=D2), today=later)["views"] == 2


def test_live_counts_sessions_started_in_the_last_hour(store: LocalStore) -> None:
    engine = DuckDbEngine(store)
    now = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
    live = reports.live(engine, "acme", now=now)
    assert (live["views"], live["plays"], live["completions"], live["cta_ctr"], live["errors"]) == (
        2, 2, 1, 0.5, 0)
    assert len(live["errors_per_bucket"]) == 12 and not live["error_spike"]
    # 11:30-13:30: S5 and S6 (12:00) and S7 (13:00); S3 and S4 began at 11:00.
    later = reports.live(engine, "acme", now=now + timedelta(hours=3), minutes=120)
    assert (later["views"], later["plays"], later["playback_failures"], later["errors"]) == (3, 1, 1, 2)
    buckets = [bucket["errors"] for bucket in later["errors_per_bucket"]]
    assert [(i, n) for i, n in enumerate(buckets) if n] == [(6, 1), (18, 1)]  # 12:00 and 13:00


def test_empty_organization_has_zero_counts_and_undefined_rates(store: LocalStore) -> None:
    result = reports.summary(DuckDbEngine(store), "nobody", today=TODAY)
    assert result["views"] == 0 and result["unique_viewers"] == 0
    assert result["completion_rate"] is None and result["cta_ctr"] is None


def test_default_range_covers_all_data_up_to_today(store: LocalStore) -> None:
    engine = DuckDbEngine(store)
    window = reports.plan(engine, "acme", today=TODAY)
    assert window.date_from <= D1 and window.date_to == TODAY
    assert reports.summary(engine, "acme", today=TODAY) == EXPECTED


def test_invalid_arguments_are_refused(store: LocalStore) -> None:
    engine = DuckDbEngine(store)
    with pytest.raises(ValueError, match="dimension"):
        reports.breakdown(engine, "acme", "referrer", RANGE, today=TODAY)
    with pytest.raises(ValueError, match="organization"):
        reports.summary(engine, "../globex", RANGE, today=TODAY)
    with pytest.raises(ValueError, match="live"):
        reports.live(engine, "acme", RANGE)


def test_live_flags_an_error_spike(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "data")
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    calm = [Session(now - timedelta(minutes=40)).at(0, "session.started")
            .at(1, "video.errored", error_code="MEDIA_ERR_NETWORK")]
    burst = [Session(now - timedelta(minutes=3)).at(0, "session.started")
             .at(1, "video.errored", error_code="MEDIA_ERR_DECODE") for _ in range(5)]
    ingest(store, calm + burst)
    live = reports.live(DuckDbEngine(store), "acme", now=now)
    assert (live["views"], live["errors"], live["playback_failures"], live["error_spike"]) == (6, 6, 6, True)
    assert live["since"] == "2026-11-24T11:00:00.000Z" and live["errors_per_bucket"][-1] == {
        "start": "2026-11-24T11:55:00.000Z", "errors": 5}
    assert not reports.live(DuckDbEngine(store), "acme", now=now - timedelta(minutes=10))["error_spike"]


def test_live_buckets_sit_on_the_clock_and_the_spike_on_the_last_5_minutes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "data")
    now = datetime(2026, 11, 24, 12, 3, 30, tzinfo=UTC)  # the window starts at 11:03:30

    def failing(at: datetime) -> Session:
        return Session(at).at(0, "session.started").at(1, "video.errored", error_code="MEDIA_ERR_DECODE")

    ingest(store, [failing(datetime(2026, 11, 24, 11, 2, tzinfo=UTC)),  # before the window
                   failing(datetime(2026, 11, 24, 11, 4, 10, tzinfo=UTC)),
                   *(failing(datetime(2026, 11, 24, 11, 59, 40, tzinfo=UTC)) for _ in range(5))])
    live = reports.live(DuckDbEngine(store), "acme", now=now)
    starts = [bucket["start"][11:16] for bucket in live["errors_per_bucket"]]
    assert starts == [f"{11 + m // 60}:{m % 60:02d}" for m in range(0, 65, 5)]  # 11:00 … 12:00, partial ends
    assert [bucket["errors"] for bucket in live["errors_per_bucket"]] == [1] + [0] * 10 + [5, 0]
    assert live["errors"] == 6
    # 11:59:40 is within the last 5 minutes (11:58:30-12:03:30) though its clock span is the one before.
    assert live["error_spike"]
