"""The outcomes report: known sessions, outcomes and an audience give exact cohort numbers, through
DuckDB and through Athena on moto (results injected, as the other reports' Athena tests do)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.reporting.outcomes import outcomes
from pipeline.store.local import LocalStore
from tests.pipeline._outcomes import EXPECTED_COHORTS, EXPECTED_CTAS, RANGE, TODAY, known_outcomes
from tests.pipeline.test_query_athena import Recording, athena, engine, inject  # noqa: F401 (athena: fixture)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    made = LocalStore(tmp_path_factory.mktemp("outcomes") / "bucket")
    known_outcomes(made)
    return made


def test_cohorts_conversions_values_and_ctas_are_exact(store: LocalStore) -> None:
    engine_ = DuckDbEngine(store)
    report = outcomes(engine_, "acme", "policy_renewed", RANGE, audience="letters", today=TODAY)
    assert report["cohorts"] == EXPECTED_COHORTS
    assert report["ctas"] == EXPECTED_CTAS
    assert (report["people"], report["converted"], report["conversion_rate"]) == (7, 4, round(4 / 7, 6))
    assert (report["from"], report["to"], report["attribution_days"]) == ("2026-11-24", "2026-11-25", 30)


def test_without_an_audience_there_is_no_baseline_and_the_window_is_a_parameter(store: LocalStore) -> None:
    engine_ = DuckDbEngine(store)
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

