"""docs/metrics.md: its definitions table is the one reporting/metrics.py renders, and it covers every key."""

from __future__ import annotations

from pathlib import Path

from pipeline.query.tables import ROLLUPS
from pipeline.reporting import metrics

DOC = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"


def test_the_definitions_table_is_generated_from_the_metric_definitions() -> None:
    text = DOC.read_text()
    assert metrics.sync_document(text) == text, "regenerate: metrics.sync_document(docs/metrics.md)"


def test_every_metric_has_a_definition_a_formula_and_both_comparisons() -> None:
    for metric in (*metrics.SUMMARY, *metrics.PER_ITEM):
        assert metric.description and metric.formula and metric.mux and metric.segment, metric.name
        assert metric.unit in {"sessions", "viewers", "events", "fraction", "percent"}
        assert (metric.denominator is None) == (metric.unit not in {"fraction", "percent"})
    assert len(metrics.METRICS) == len(metrics.SUMMARY)  # summary names are unique keys
    text = DOC.read_text()
    assert all(f"`{name}`" in text for name in metrics.METRICS)
    assert all(f"`{name}`" in text for name in ROLLUPS)


def test_rates_are_fractions_and_undefined_without_a_denominator() -> None:
    values = metrics.compute({"views": 4, "plays": 0, "completions": 0, "cta_sessions": 1})
    assert values["cta_ctr"] == 0.25 and values["completion_rate"] is None
    assert "unique_viewers" not in values  # its count was not given
