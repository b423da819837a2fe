"""GET /metrics on the local app, read with prometheus-client's own parser: the ingest counters move
by what was answered, the state gauges follow the queue and the webhook outboxes, no label carries an
organization or a client's value, and the Lambda apps have no such route."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from gateway.app import create_api_app, create_app
from gateway.ingest_app import create_ingest_app
from gateway.metrics import DEFINITIONS, PATH
from gateway.middleware.rate_limit import Limit, RateLimits
from pipeline.config import Settings
from pipeline.queue.local import LocalQueue
from pipeline.store.local import LocalStore
from pipeline.webhooks.dead_letters import redrive
from pipeline.webhooks.outbox import Batch, dead_prefix, outbox_prefix, save_batch
from tests._fixtures import fixture_names, load_fixture
from tests.gateway._client import Gateway
from tests.gateway.test_legacy_endpoint import GROUP_KEYS, Legacy

REPO = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    """Every sample of the scrape by (name, labels)."""
    answer = client.get(PATH)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def moved(before: Samples, after: Samples) -> dict[str, float]:
    """The counters that moved between two scrapes, as `name` or `name{label=value}`."""
    out = {}
    for (name, labels), value in after.items():
        if name.endswith("_total") and value != before.get((name, labels), 0.0):
            shown = name + ("{" + ",".join(f"{k}={v}" for k, v in labels) + "}" if labels else "")
            out[shown] = value - before.get((name, labels), 0.0)
    return out


def event(**fields: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "schema_version": "1", "event_type": "session.started",
            "occurred_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "session_id": str(uuid.uuid4()), "consent": {"tracking": True}, **fields}


def test_counters_move_by_what_the_ingest_answered(gateway: Gateway) -> None:
    before = scrape(gateway.client)
    first = event()
    assert gateway.post(first).json()["accepted"] == 1
    batch = {"events": [event(), event(), first, {"event_type": "session.started"}, event(event_type="nope")]}
    assert gateway.post(batch).json()["accepted"] == 2
    assert gateway.post(first).json()["duplicates"] == 1
    assert gateway.post(event(), token="pt1.forged").status_code == 401
    assert gateway.post(event(), content_type="text/csv").status_code == 415
    assert gateway.post(event(consent={"tracking": False}, event_type="video.played",
                              payload={"position_ms": 0})).status_code == 400
    assert moved(before, scrape(gateway.client)) == {
        "percus_events_accepted_total": 3.0,
        "percus_events_duplicates_total": 2.0,
        "percus_events_rejected_total{code=missing_schema_version}": 1.0,  # each of a batch
        "percus_events_rejected_total{code=unknown_event_type}": 1.0,
        "percus_events_rejected_total{code=token_malformed}": 1.0,  # each request refused whole
        "percus_events_rejected_total{code=unsupported_media_type}": 1.0,
        "percus_events_rejected_total{code=consent_required}": 1.0,
    }


def test_requests_the_limits_refuse_before_the_route_count_once_each(settings: Settings,
                                                                      queue: LocalQueue) -> None:
    limits = RateLimits(per_address=Limit(rate=0.001, burst=2), per_token=None, exempt=frozenset())
    with TestClient(create_app(settings, queue, rate_limits=limits)) as client:
        gateway = Gateway(client, queue, settings)
        before = scrape(client)
        too_large = {"events": [event(payload={"pad": "x" * 1000}) for _ in range(600)]}
        assert gateway.post(too_large).status_code == 413
        assert gateway.post(event()).status_code == 202  # the second request of the burst of 2
        assert gateway.post(event()).status_code == 429
        assert client.post("/analytics/v1/exports", json={}).status_code == 429  # not an ingest path
        assert moved(before, scrape(client)) == {
            "percus_events_accepted_total": 1.0,
            "percus_events_rejected_total{code=body_too_large}": 1.0,
            "percus_events_rejected_total{code=rate_limited}": 1.0,
        }


def test_the_legacy_endpoint_counts_alike(tmp_path: Path) -> None:
    legacy = Legacy(tmp_path)
    case = next(case for case in map(load_fixture, fixture_names("individeo/indiTrack"))
                if case["expected"]["events"] and "trackerGroupKey" in case["body"])
    body = {**case["body"], "trackerGroupKey": GROUP_KEYS[case["organization_id"]]}
    with legacy.client:
        before = scrape(legacy.client)
        assert legacy.post(body, case["query"].get("evt")).status_code == 202
        assert legacy.post(body, case["query"].get("evt")).status_code == 202
        assert legacy.post({**body, "trackerGroupKey": "not-registered"},
                           case["query"].get("evt")).status_code == 403
        after = scrape(legacy.client)
    legacy.queue.close()
    count = float(len(case["expected"]["events"]))
    assert moved(before, after) == {"percus_events_accepted_total": count,
                                    "percus_events_duplicates_total": count,
                                    "percus_events_rejected_total{code=unknown_group_key}": 1.0}


def test_no_organization_token_or_client_value_appears_and_codes_are_the_documented_ones(
        gateway: Gateway) -> None:
    token = gateway.token("org-7f3a9c", "project-b41e")
    hostile = "<script>x</script>"
    gateway.post(event(), token=token)
    gateway.post({"events": [event(event_type=hostile), event(schema_version=hostile), hostile]}, token=token)
    gateway.post(event(), token=token, headers={"Origin": "https://evil.example", "User-Agent": hostile})
    gateway.post(b'{"events": [', token=token)
    gateway.post({"events": []}, token=token)
    gateway.post({"events": {"a": 1}}, token=token)
    gateway.post({"events": [event()] * 501}, token=token)
    gateway.post(event(), token=token + "x")
    text = gateway.client.get(PATH).text
    for value in ("org-7f3a9c", "project-b41e", token, token.split(".")[2], hostile, "script", "acme"):
        assert value not in text
    documented = set(re.findall(r"^\| `([a-z_]+)`", (REPO / "docs/api.md").read_text(), re.MULTILINE))
    codes = {labels[0][1] for (name, labels) in scrape(gateway.client)
             if name == "percus_events_rejected_total"}
    assert len(codes) >= 6 and codes <= documented


def test_every_defined_metric_is_exposed_with_its_help(gateway: Gateway) -> None:
    families = {family.name: family for family in
                text_string_to_metric_families(gateway.client.get(PATH).text)}
    for definition in DEFINITIONS:
        name = definition.name.removesuffix("_total")  # the parser names a counter without it
        if definition.name == "percus_compaction_lag_seconds":
            assert name not in families  # `percus serve`'s background pipeline adds it
            continue
        assert families[name].type == definition.kind and families[name].documentation == definition.help


def test_the_queue_gauges_follow_the_backlog(gateway: Gateway) -> None:
    def gauges() -> tuple[float, float]:
        samples = scrape(gateway.client)
        return (samples["percus_queue_backlog_bytes", ()],
                samples["percus_queue_oldest_message_age_seconds", ()])

    assert gauges() == (0.0, 0.0)
    gateway.post(event())
    gateway.post(event())
    size, age = gauges()
    assert size > 0 and age >= 0.0
    assert len(gateway.queued()) == 2  # taken and deleted, as the writer does
    assert gauges() == (0.0, 0.0)


def test_the_webhook_gauges_count_outbox_and_dead_letters(gateway: Gateway) -> None:
    store = LocalStore(gateway.settings.data_dir / "bucket")

    def gauges() -> tuple[float, float]:
        samples = scrape(gateway.client)
        return samples["percus_webhook_outbox_batches", ()], samples["percus_webhook_dead_letter_batches", ()]

    def batch(org: str, batch_id: str) -> Batch:
        return Batch(batch_id=batch_id, organization_id=org, created_at=datetime.now(UTC),
                     event_ids={"2026-11-25T10": [str(uuid.uuid4())]}, event_count=1)

    assert gauges() == (0.0, 0.0)
    save_batch(store, f"{outbox_prefix('acme')}b1.json", batch("acme", "b1"))
    save_batch(store, f"{outbox_prefix('beta')}b2.json", batch("beta", "b2"))
    save_batch(store, f"{dead_prefix('acme')}b3.json", batch("acme", "b3"))
    assert gauges() == (2.0, 1.0)
    redrive(store, "acme")
    assert gauges() == (3.0, 0.0)


def test_report_answers_are_timed_by_report(gateway: Gateway) -> None:
    before = scrape(gateway.client)
    assert gateway.client.get("/analytics/v1/reports/summary").status_code == 401
    assert gateway.client.get("/analytics/v1/reports/dropoff").status_code == 401
    assert gateway.client.get("/analytics/v1/reports/dropoff").status_code == 401
    after = scrape(gateway.client)
    count = "percus_report_duration_seconds_count"
    assert after[count, (("report", "summary"),)] - before[count, (("report", "summary"),)] == 1
    assert after[count, (("report", "dropoff"),)] - before[count, (("report", "dropoff"),)] == 2
    assert after["percus_report_duration_seconds_sum", (("report", "summary"),)] > 0


def test_no_lambda_app_serves_metrics(gateway: Gateway, tmp_path: Path) -> None:
    with LocalQueue(tmp_path / "ingest-queue") as queue:
        ingest = TestClient(create_ingest_app(gateway.settings, queue))
        assert ingest.get(PATH).status_code == 404
    api = TestClient(create_api_app(gateway.settings))
    assert api.get(PATH).status_code == 404
    assert api.get(PATH).json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("build", [
    "import gateway.lambda_ingest",
    "from gateway.app import create_api_app; from pipeline.config import load_settings; "
    "create_api_app(load_settings({'PERCUS_DATA_DIR': sys.argv[1], 'PERCUS_TOKEN_KEYS': 'k:s'}))",
])
def test_the_lambda_functions_never_load_prometheus_client(build: str, tmp_path: Path) -> None:
    probe = f"import json, sys; {build}; print(json.dumps('prometheus_client' in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=True)
    assert json.loads(done.stdout) is False
