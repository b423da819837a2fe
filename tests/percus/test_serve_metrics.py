"""GET /metrics of a real `percus serve`: an event posted is counted as accepted, then observed in the
freshness histogram once the background pipeline has counted it in the summary."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.percus.test_serve import event, token
from tests.reliability._serve import serving

pytestmark = pytest.mark.slow


def _samples(base: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if not sample.labels}


def test_posted_events_are_counted_then_observed_fresh(tmp_path: Path) -> None:
    share = token(tmp_path)
    with serving(tmp_path) as server:
        base = server.base
        assert _samples(base)["percus_events_accepted_total"] == 0.0
        for _ in range(3):
            answer = httpx.post(f"{base}/analytics/v1/events", json=event(str(uuid.uuid4())),
                                headers={"Authorization": f"Bearer {share}"}, timeout=10)
            assert answer.status_code == 202
        deadline = time.monotonic() + 60  # the freshness promise
        while (samples := _samples(base))["percus_freshness_seconds_count"] < 3:
            assert time.monotonic() < deadline, samples
            time.sleep(0.2)
    assert samples["percus_events_accepted_total"] == 3.0
    assert samples["percus_freshness_seconds_count"] == 3.0
    assert samples["percus_queue_backlog_bytes"] == 0.0  # the writer deletes before compaction is nudged
