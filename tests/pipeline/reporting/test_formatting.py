"""The one mapping of column names to human headers and units (dashboard, digest, command line)."""

from __future__ import annotations

from pipeline.reporting import digest, formatting, metrics


def test_every_metric_has_a_human_label() -> None:
    for metric in (*metrics.SUMMARY, *metrics.PER_ITEM, *metrics.ENGAGEMENT, *metrics.OUTCOMES):
        assert metric.name in formatting.LABELS, metric.name


def test_values_are_shown_in_their_unit() -> None:
    assert (formatting.label("avg_max_percent"), formatting.cell("avg_max_percent", 100.0)) == (
        "Avg. furthest point", "100.0 %")
    assert formatting.cell("views", 1234567) == "1,234,567"
    assert formatting.cell("completion_rate", 0.31746) == "31.7 %"
    assert formatting.cell("median_days_to_convert", 2.5) == "2.5 days"
    assert formatting.cell("retention_days", 30) == "30 days"
    assert formatting.cell("value", {"EUR": "12.50", "USD": "3"}) == "12.50 EUR, 3 USD"
    assert formatting.cell("completion_rate", None) == formatting.MISSING
    assert formatting.cell("error_spike", True) == "yes"
    assert formatting.cell("cta_id", "book") == "book"
    assert formatting.label("some_new_column") == "Some new column"


def test_the_digest_headlines_use_the_same_labels() -> None:
    assert all(label == formatting.LABELS[name] for name, label in digest.HEADLINES)
