"""The outcomes report: known sessions, outcomes and an audience give exact cohort numbers, in the
layered shape DuckDB runs and in the shape read once that Athena runs (both on DuckDB here), and
through Athena on moto (results injected, as the other reports' Athena tests do)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.outcomes.intake import store_outcomes
from pipeline.outcomes.rows import parse_outcome
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.reporting.outcomes import outcomes
from pipeline.store.local import LocalStore
from tests.pipeline._outcomes import (
    D1,
    EXPECTED_COHORTS,
    EXPECTED_CTAS,
    KEYS,
    NOW,
    RANGE,
    TODAY,
    client,
    keyed,
    known_outcomes,
    played,
)
from tests.pipeline._sessions import Session, ingest
from tests.pipeline.reporting.test_single_scan import ScanBilled
from tests.pipeline.test_query_athena import Recording, athena, engine, inject  # noqa: F401 (athena: fixture)


@pytest.fixture(params=[DuckDbEngine, ScanBilled], ids=["layered", "single_scan"])
def shape(request: pytest.FixtureRequest) -> type[DuckDbEngine]:
    """The engine class whose shape the report runs: DuckDB's layers, or Athena's single read."""
    engine: type[DuckDbEngine] = request.param
    return engine


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    made = LocalStore(tmp_path_factory.mktemp("outcomes") / "bucket")
    known_outcomes(made)
    return made


def test_cohorts_conversions_values_and_ctas_are_exact(store: LocalStore, shape: type[DuckDbEngine]) -> None:
    engine_ = shape(store)
    report = outcomes(engine_, "acme", "policy_renewed", RANGE, audience="letters", today=TODAY)
    assert report["cohorts"] == EXPECTED_COHORTS
    assert report["ctas"] == EXPECTED_CTAS
    assert (report["people"], report["converted"], report["conversion_rate"]) == (7, 4, round(4 / 7, 6))
    assert (report["from"], report["to"], report["attribution_days"]) == ("2026-11-24", "2026-11-25", 30)


def test_without_an_audience_there_is_no_baseline_and_the_window_is_a_parameter(
        store: LocalStore, shape: type[DuckDbEngine]) -> None:
    engine_ = shape(store)
    report = outcomes(engine_, "acme", "policy_renewed", RANGE, attribution_days=3, today=TODAY)
    assert [row["cohort"] for row in report["cohorts"]] == [row["cohort"] for row in EXPECTED_COHORTS[1:]]
    by_cohort = {row["cohort"]: row for row in report["cohorts"]}
    # Within 3 days: V3's first outcome (2 days) and V4's (2 days); not V1's (5 days).
    assert by_cohort["viewed_not_played"]["value"] == {"EUR": "50"}
    assert (by_cohort["completed"]["converted"], by_cohort["completed"]["value"]) == (1, {"EUR": "10.5"})
    assert outcomes(engine_, "acme", "newsletter", RANGE, today=TODAY)["converted"] == 1
    with pytest.raises(ValueError, match="attribution_days"):
        outcomes(engine_, "acme", "policy_renewed", RANGE, attribution_days=0, today=TODAY)


def test_another_organization_sees_only_its_own(store: LocalStore) -> None:
    report = outcomes(DuckDbEngine(store), "globex", "policy_renewed", RANGE, audience="letters", today=TODAY)
    assert (report["people"], report["converted"]) == (1, 1)  # globex's own viewer, not acme's audience
    assert report["cohorts"][0] == {"cohort": "not_viewed", "people": 0, "converted": 0,
                                    "conversion_rate": None, "value": {}, "median_days_to_convert": None}


def test_a_cta_counts_the_viewers_of_the_sessions_the_selection_chose(tmp_path: Path,
                                                                      shape: type[DuckDbEngine]) -> None:
    """A click counts under its session's project, bot flag and start day (what the single-scan shape
    carries to a CTA row from its session), and a session clicking two CTAs counts under both."""
    store, at = LocalStore(tmp_path / "bucket"), D1 + timedelta(hours=10)

    def clicked(session: Session, *ctas: str) -> Session:
        for n, cta in enumerate(ctas):
            session.at(40 + n, "cta.clicked", cta_id=cta, cta_name=cta.title())
        return session

    ingest(store, [
        clicked(played(Session(at, viewer_hash=keyed(1)), 100, completed=True), "buy", "call"),
        clicked(Session(at, project="p2", viewer_hash=keyed(2)).at(0, "session.started"), "buy"),
        clicked(played(Session(at, viewer_hash=keyed(3), is_bot=True), 50), "buy"),
        # Started the day before the range: its click, in the range, is not the range's.
        clicked(Session(D1 - timedelta(seconds=30), viewer_hash=keyed(4)).at(0, "session.started"), "buy"),
    ])
    store_outcomes(store, "acme", [
        parse_outcome({"outcome_id": str(uuid.uuid4()), "viewer_hash": client(n), "name": "policy_renewed",
                       "occurred_at": (at + timedelta(days=1)).isoformat()}, now=NOW) for n in (1, 3, 4)],
        KEYS, received_at=NOW)
    engine = shape(store)

    def ctas(**selection: Any) -> dict[str, tuple[int, int]]:
        report = outcomes(engine, "acme", "policy_renewed", replace(RANGE, **selection), today=TODAY)
        return {row["cta_id"]: (row["people"], row["converted"]) for row in report["ctas"]}

    assert ctas() == {"buy": (2, 1), "call": (1, 1)}
    assert ctas(project_id="p1") == {"buy": (1, 1), "call": (1, 1)}
    assert ctas(project_id="p2") == {"buy": (1, 0)}
    assert ctas(include_bots=True) == {"buy": (3, 2), "call": (1, 1)}
    report = outcomes(engine, "acme", "policy_renewed", RANGE, today=TODAY)
    assert [row["cta_name"] for row in report["ctas"]] == ["Buy", "Call"]
    assert (report["people"], report["converted"]) == (2, 1)  # the bot and the day before: not people


@pytest.mark.aws
def test_through_athena_it_equals_the_report_through_duckdb(aws: str, athena: Any,  # noqa: F811
                                                            store: LocalStore) -> None:
    duck = Recording(store)
    expected = outcomes(duck, "acme", "policy_renewed", RANGE, audience="letters", today=TODAY)
    (rows,) = duck.results
    inject(aws, rows, {"part": "varchar", "item": "varchar", "label": "varchar", "n": "bigint",
                       "seconds": "double", "amount": "decimal(38,4)"})
    through = outcomes(engine(store, athena), "acme", "policy_renewed", RANGE, audience="letters",
                       today=TODAY)
    assert through == expected
    (query_id,) = athena.list_query_executions(WorkGroup="percus")["QueryExecutionIds"]
    statement = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Query"]
    assert "\"percus\".\"outcomes\" WHERE \"org\" = 'acme' AND \"date\" IN ('2026-11-24'" in statement
    assert "\"percus\".\"audiences\" WHERE \"org\" = 'acme'" in statement
    assert "globex" not in statement

