"""The metrics `percus serve`'s background pipeline feeds (percus/background.py): the compaction lag
of what the writer landed, and the freshness of each event a compaction counts in the summary."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.instruments import Metrics
from gateway.middleware.rate_limit import RateLimits
from gateway.tokens import issue_token
from percus.background import PipelineLoop
from pipeline.config import load_settings
from pipeline.governance.registry import OrganizationRegistry
from pipeline.queue.local import LocalQueue
from pipeline.raw.writer import Writer
from pipeline.store.base import Store
from pipeline.store.local import LocalStore


def _samples(client: TestClient) -> dict[str, float]:
    text = client.get("/metrics").text
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if not sample.labels or sample.labels == {"le": "+Inf"}}


def test_compaction_lag_and_freshness_follow_what_the_writer_landed(tmp_path: Path) -> None:
    settings = load_settings({"PERCUS_DATA_DIR": str(tmp_path), "PERCUS_TOKEN_KEYS": "k:secret"})
    store = LocalStore(tmp_path / "bucket")
    registry = OrganizationRegistry(store)
    registry.create("acme")
    key = registry.create_api_key("acme")
    metrics = Metrics()
    loop = PipelineLoop(store, freshness=metrics.observe_freshness, waiting=metrics.compaction_waiting)
    token = issue_token(settings.token_keys, "acme", "p1")
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with LocalQueue(tmp_path / "queue") as queue, TestClient(create_app(
            settings, queue, store=store, rate_limits=RateLimits(), instruments=metrics)) as client:
        for _ in range(3):
            answer = client.post("/analytics/v1/events", headers={"Authorization": f"Bearer {token}"}, json={
                "event_id": str(uuid.uuid4()), "schema_version": "1", "event_type": "session.started",
                "occurred_at": now, "session_id": str(uuid.uuid4()), "consent": {"tracking": True}})
            assert answer.status_code == 202
        assert _samples(client)["percus_compaction_lag_seconds"] == 0.0  # nothing landed yet
        assert Writer(queue, store, max_wait=0, on_written=loop.nudge).drain().objects_written
        landed = _samples(client)
        assert landed["percus_queue_backlog_bytes"] == 0.0
        assert landed["percus_compaction_lag_seconds"] > 0.0
        assert landed["percus_freshness_seconds_count"] == 0.0

        loop.tick()  # compacts, as the nudge would
        compacted = _samples(client)
        summary = client.get("/analytics/v1/reports/summary", headers={"Authorization": f"Bearer {key}"})
    assert compacted["percus_compaction_lag_seconds"] == 0.0
    # Each event the compaction took in, now counted in the summary, observed once.
    assert summary.json()["result"]["views"] == 3
    assert compacted["percus_freshness_seconds_count"] == 3.0
    assert compacted["percus_freshness_seconds_bucket"] == 3.0
    assert compacted["percus_freshness_seconds_sum"] > 0.0


def test_what_lands_during_a_compaction_waits_for_the_next(tmp_path: Path) -> None:
    waiting: list[float | None] = []  # what the loop said, in order: since when landed objects wait
    lags: list[float | None] = []  # what it had said as each run started
    second = threading.Event()

    def compaction(store: Store) -> None:
        lags.append(waiting[-1])
        if len(lags) == 1:
            loop.nudge()  # the writer lands more while this run is under way
        else:
            second.set()

    loop = PipelineLoop(LocalStore(tmp_path), interval=3600, steps=(), landed=compaction,
                        waiting=waiting.append)
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,))
    thread.start()
    loop.nudge()
    try:
        assert second.wait(30)
    finally:
        stop.set()
        thread.join()
    assert lags[0] is not None and lags[1] is not None  # the second run still had the late landing
    assert waiting[-1] is None  # and nothing landed after it
