"""The weekly digest's line on business outcomes: present when the organization posts outcomes, with
the outcomes report's numbers for the week's most frequent outcome name; absent otherwise."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.reporting import digest
from pipeline.reporting.digest import Week
from pipeline.reporting.outcomes import outcomes
from pipeline.reporting.selection import Selection
from pipeline.store.local import LocalStore
from tests.pipeline._outcomes import known_outcomes
from tests.pipeline.reporting.test_digest import pdf_text

W48 = Week(2026, 48)  # 23-29 November 2026
TODAY = date(2027, 3, 1)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    made = LocalStore(tmp_path_factory.mktemp("digest-outcomes") / "bucket")
    known_outcomes(made)
    return made


def test_the_week_s_most_frequent_outcome_is_a_line_of_the_text_and_the_pdf(store: LocalStore,
                                                                          tmp_path: Path) -> None:
    engine = DuckDbEngine(store)
    figures = digest.gather(engine, "acme", W48, today=TODAY)
    week = Selection(date_from=date(2026, 11, 23), date_to=date(2026, 11, 29))
    assert figures.outcomes == (outcomes(engine, "acme", "policy_renewed", week, today=TODAY),)
    # V1-V5 viewed in the week and V9 on its Saturday; V1, V3, V4 and V9 converted.
    line = ("policy_renewed: 4 of 6 viewers of the week converted within 30 days so far (66.7 %); "
            "100.0 % of those who completed, 100.0 % of those who never played. A correlation, not the "
            "video's effect.")
    assert f"Business outcome {line}" in digest.text_body(figures)
    made = digest.build(engine, "acme", W48, today=TODAY, now=datetime(2027, 3, 1, tzinfo=UTC))
    text = " ".join(pdf_text(made.pdf, tmp_path).split())
    assert "Business outcomes" in text and "4 of 6 viewers of the week converted" in text
    assert made.pages == 1


def test_an_organization_without_outcomes_has_no_such_line(store: LocalStore) -> None:
    figures = digest.gather(DuckDbEngine(store), "initech", W48, today=TODAY)
    assert figures.outcomes == () and "Business outcome" not in digest.text_body(figures)
