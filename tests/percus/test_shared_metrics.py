"""GET /metrics adds up across `percus serve`'s processes: worker processes count what their apps
answered, the pipeline process its freshness and compaction lag, each in its slot of the shared run
directory (gateway/metric_slots.py), and any process's scrape sums every slot; a worker killed -9 and
restarted on its slot continues its counts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.instruments import Metrics
from gateway.metric_slots import LABEL_BYTES, LABELS, SlotInUse
from gateway.middleware.rate_limit import RateLimits
from pipeline.config import load_settings
from pipeline.queue.local import LocalQueue

REPO = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

# A gateway worker: its app answers `accepted` events (then the first again, a duplicate), `forged`
# posts with a forged token (401 token_malformed) and `reports` report requests without a key (401,
# timed), then it says "ready" and stays alive, holding its slot, until its stdin closes.
_WORKER = r"""
import sys, uuid
from datetime import UTC, datetime
from pathlib import Path
from starlette.testclient import TestClient
from gateway.app import create_app
from gateway.instruments import Metrics
from gateway.middleware.rate_limit import RateLimits
from gateway.tokens import issue_token
from pipeline.config import load_settings
from pipeline.queue.local import LocalQueue

run_dir, data_dir, slot = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
accepted, forged, reports = map(int, sys.argv[4:])
settings = load_settings({"PERCUS_DATA_DIR": str(data_dir), "PERCUS_TOKEN_KEYS": "k:secret"})
headers = {"Authorization": f"Bearer {issue_token(settings.token_keys, 'acme', 'p1')}"}
now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
events = [{"event_id": str(uuid.uuid4()), "schema_version": "1", "event_type": "session.started",
           "occurred_at": now, "session_id": str(uuid.uuid4()), "consent": {"tracking": True}}
          for _ in range(accepted)]
with LocalQueue(data_dir / "queue") as queue, TestClient(create_app(
        settings, queue, rate_limits=RateLimits(), instruments=Metrics.shared(run_dir, slot))) as client:
    for event in [*events, events[0]]:
        assert client.post("/analytics/v1/events", json=event, headers=headers).status_code == 202
    for _ in range(forged):
        forged_token = {"Authorization": "Bearer pt1.x"}
        assert client.post("/analytics/v1/events", json=events[0], headers=forged_token).status_code == 401
    for _ in range(reports):
        assert client.get("/analytics/v1/reports/summary").status_code == 401
    print("ready", flush=True)
    sys.stdin.read()
"""

# The supervisor's pipeline: observes the freshness of the given seconds, says "ready", then for each
# line read lands raw objects (a nudge, as the writer's) and says "nudged".
_PIPELINE = r"""
import sys
from pathlib import Path
from gateway.instruments import Metrics
from percus.background import PipelineLoop
from pipeline.store.local import LocalStore

metrics = Metrics.shared(Path(sys.argv[1]), "pipeline")
loop = PipelineLoop(LocalStore(Path(sys.argv[2])), freshness=metrics.observe_freshness,
                    waiting=metrics.compaction_waiting)
metrics.observe_freshness([float(value) for value in sys.argv[3:]])
print("ready", flush=True)
for line in sys.stdin:
    loop.nudge()
    print("nudged", flush=True)
"""


class Process:
    def __init__(self, script: str, *arguments: object) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", script, *map(str, arguments)], cwd=REPO,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def said(self, word: str) -> None:
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == word, self.proc.communicate()

    def tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{line}\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.communicate(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.communicate(timeout=30)  # closes stdin: it ends
        assert self.proc.returncode in (0, -signal.SIGKILL)


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    with ExitStack() as stack:
        stack.callback(lambda: [process.proc.kill() for process in started])
        yield started
        for process in started:
            process.stop()


def scrape(client: TestClient) -> Samples:
    """Every sample, by (name, labels), of a scrape the prometheus-client parser reads."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


@pytest.mark.slow
def test_a_scrape_sums_every_process_and_a_restarted_worker_continues(
        tmp_path: Path, processes: list[Process]) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    def worker(slot: str, accepted: int, forged: int, reports: int) -> Process:
        processes.append(Process(_WORKER, run_dir, tmp_path / slot, slot, accepted, forged, reports))
        return processes[-1]

    pipeline = Process(_PIPELINE, run_dir, tmp_path / "bucket", 0.4, 3.0, 7.0)
    processes.append(pipeline)
    first, second = worker("worker-0", 3, 2, 1), worker("worker-1", 4, 1, 2)
    for process in (pipeline, first, second):
        process.said("ready")

    # A third worker answers the scrape, with nothing counted of its own.
    settings = load_settings({"PERCUS_DATA_DIR": str(tmp_path / "worker-2"), "PERCUS_TOKEN_KEYS": "k:s"})
    metrics = Metrics.shared(run_dir, "worker-2")
    with LocalQueue(tmp_path / "worker-2" / "queue") as queue, TestClient(create_app(
            settings, queue, rate_limits=RateLimits(), instruments=metrics)) as client:
        samples = scrape(client)
        assert samples["percus_events_accepted_total", ()] == 7.0
        assert samples["percus_events_duplicates_total", ()] == 2.0
        assert samples["percus_events_rejected_total", (("code", "token_malformed"),)] == 3.0
        summary = (("report", "summary"),)
        assert samples["percus_report_duration_seconds_count", summary] == 3.0
        assert samples["percus_report_duration_seconds_bucket", (("le", "+Inf"), *summary)] == 3.0
        assert samples["percus_report_duration_seconds_sum", summary] > 0.0
        assert samples["percus_report_duration_seconds_count", (("report", "dropoff"),)] == 0.0
        assert {le: samples["percus_freshness_seconds_bucket", (("le", le),)]
                for le in ("0.5", "2.0", "5.0", "10.0", "+Inf")} == {
            "0.5": 1.0, "2.0": 1.0, "5.0": 2.0, "10.0": 3.0, "+Inf": 3.0}
        assert samples["percus_freshness_seconds_count", ()] == 3.0
        assert samples["percus_freshness_seconds_sum", ()] == pytest.approx(10.4)
        assert samples["percus_compaction_lag_seconds", ()] == 0.0  # the pipeline said: none waits

        pipeline.tell("nudge")
        pipeline.said("nudged")
        assert scrape(client)["percus_compaction_lag_seconds", ()] > 0.0

        with pytest.raises(SlotInUse):  # one process per slot
            Metrics.shared(run_dir, "worker-0")
        first.kill()
        worker("worker-0", 2, 1, 0).said("ready")  # restarted on its slot
        samples = scrape(client)
    assert samples["percus_events_accepted_total", ()] == 9.0
    assert samples["percus_events_duplicates_total", ()] == 3.0
    assert samples["percus_events_rejected_total", (("code", "token_malformed"),)] == 4.0
    assert samples["percus_report_duration_seconds_count", summary] == 3.0


def test_apps_of_one_process_count_apart_unless_they_share_a_run_dir(tmp_path: Path) -> None:
    alone, other = Metrics(), Metrics()
    alone.answered(2, 1, ("invalid_field",))
    assert b"percus_events_accepted_total 0.0" in other.exposition()[0]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    first, second = Metrics.shared(run_dir, "a"), Metrics.shared(run_dir, "b")
    first.answered(2, 1, ("invalid_field", "invalid_field"))
    second.answered(3, 0, ("invalid_field", "consent_required"))
    second.rejected("rate_limited")
    for metrics in (first, second):
        text = metrics.exposition()[0].decode()
        assert "percus_events_accepted_total 5.0" in text
        assert 'percus_events_rejected_total{code="invalid_field"} 3.0' in text
        assert 'percus_events_rejected_total{code="rate_limited"} 1.0' in text


def test_every_documented_error_code_fits_a_slot() -> None:
    section = (REPO / "docs/api.md").read_text().partition("### Error codes")[2].partition("\n## ")[0]
    codes = {code for cell in re.findall(r"^\| ([^|]+) \|", section, re.MULTILINE)
             for code in re.findall(r"`([a-z_]+)`", cell)}
    assert 20 < len(codes) <= LABELS // 2  # room for the legacy endpoint's and more
    assert max(len(code.encode()) for code in codes) <= LABEL_BYTES
    metrics = Metrics()
    for index in range(LABELS):
        metrics.rejected(f"code_{index}")
    with pytest.raises(ValueError, match="no room"):
        metrics.rejected("one_too_many")
