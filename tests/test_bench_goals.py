"""bench/goals.py reads the benchmarks' JSON records and says of each of issue 18's goals whether the
last run met it; a figure that is missing is never taken as met."""

from __future__ import annotations

import json
from pathlib import Path

from bench.goals import GOALS, lines


def _record(results: Path, benchmark: str, *figures: dict[str, object]) -> None:
    results.mkdir(exist_ok=True)
    (results / f"{benchmark}.json").write_text(json.dumps({"benchmark": benchmark, "figures": figures}))


def test_each_goal_says_met_not_met_or_not_measured(tmp_path: Path) -> None:
    _record(tmp_path, "ingest",
            {"name": "ingest single", "value": 15000, "ratio": 0.72},
            {"name": "ingest single p99", "value": 9.0, "ratio": 4.5},
            {"name": "ingest batch(100)", "value": 120_000, "ratio": 0.5,
             "server_cpu_us_until_idle": {"main": 6.0, "total": 12.5}})
    _record(tmp_path, "freshness", {"name": "freshness POST to summary, p95 of 20", "value": 3.1})
    said = {line.split(":")[0].removeprefix("goal "): line for line in lines(tmp_path)}

    assert said["single-event ingest"].endswith(": met")
    assert said["single-event p99"].endswith(": NOT MET")
    assert "120,000 events/s" in said["batch(100) ingest"]
    assert said["server CPU per batched event, until idle"].endswith(": NOT MET")
    assert said["freshness POST → summary, p95"].endswith(": met")  # found by the start of its name
    assert said["compaction"].endswith("NOT MEASURED")  # no compact.json
    assert len(said) == len(GOALS)
