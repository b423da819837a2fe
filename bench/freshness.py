"""End-to-end freshness on the embedded default (defined in pipeline/freshness.py: seconds from POST,
answered 202, until the event counts in the summary), measured from outside: until it is visible in
`percus report summary`, through the real `percus serve` (writer + compaction loop). `percus serve`
measures the same span from inside (`percus_freshness_seconds` on GET /metrics).

    python -m bench.freshness [--quick] [--samples N] [--json FILE]

Baseline: the 60-second freshness promise of the embedded default (issue 3); the ratio is the
share of that budget used.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import time
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench._harness import VENV_BIN, Report, free_port, percus_server
from pipeline.freshness import PROMISE_SECONDS


def _views(data_dir: str, org: str) -> int:
    out = subprocess.run([str(VENV_BIN / "percus"), "report", "summary", "--org", org, "--format", "json"],
                         env={**os.environ, "PERCUS_DATA_DIR": data_dir}, check=True,
                         capture_output=True, text=True).stdout
    return int(json.loads(out)["views"])


def _one(base: str, token: str, data_dir: str) -> float:
    before = _views(data_dir, "bench")
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    event = {"event_id": str(uuid.uuid4()), "schema_version": "1", "event_type": "session.started",
             "occurred_at": now, "session_id": str(uuid.uuid4()), "consent": {"tracking": True}}
    started = time.monotonic()
    answer = httpx.post(f"{base}/analytics/v1/events?token={token}", json=event, timeout=10)
    answer.raise_for_status()
    while _views(data_dir, "bench") == before:
        if time.monotonic() - started > 3 * PROMISE_SECONDS:
            raise SystemExit("the event did not show up within three times the promise")
        time.sleep(0.5)
    return time.monotonic() - started


def _inside(base: str) -> float:
    """The mean of percus serve's own measure (`percus_freshness_seconds` on GET /metrics)."""
    samples = {sample.name: sample.value
               for family in text_string_to_metric_families(httpx.get(f"{base}/metrics", timeout=10).text)
               for sample in family.samples}
    return samples["percus_freshness_seconds_sum"] / samples["percus_freshness_seconds_count"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="3 samples")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    report = Report("freshness")
    with percus_server(free_port()) as (base, token, data_dir):
        samples = [_one(base, token, data_dir) for _ in range(3 if args.quick else args.samples)]
        inside = _inside(base)
    median = statistics.median(samples)
    p95 = sorted(samples)[math.ceil(0.95 * len(samples)) - 1]  # nearest rank
    report.add("freshness POST to summary, median", median, "s", median / PROMISE_SECONDS, "60 s promise",
               samples=samples)
    report.add(f"freshness POST to summary, p95 of {len(samples)}", p95, "s", p95 / PROMISE_SECONDS,
               "60 s promise")
    report.add("freshness POST to summary measured by percus serve, mean", inside, "s",
               inside / PROMISE_SECONDS, "60 s promise")
    report.write_json(args.json)


if __name__ == "__main__":
    main()
