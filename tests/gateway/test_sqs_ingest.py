"""The gateway over the SQS queue (sent from a worker thread), against a real moto server."""

from __future__ import annotations

import json

import boto3
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.middleware.rate_limit import RateLimits
from pipeline.config import Settings
from pipeline.queue.sqs import SqsQueue
from tests.gateway._client import Gateway
from tests.gateway._events import event

pytestmark = pytest.mark.aws


def test_queue_outage_answers_503_and_the_retry_is_not_a_duplicate(aws: str, settings: Settings) -> None:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="ingest")["QueueUrl"]
    queue = SqsQueue(url, client=sqs, attempts=1)
    with TestClient(create_app(settings, queue, rate_limits=RateLimits())) as client:
        gateway = Gateway(client, queue, settings)
        first, second = event(), event()
        assert gateway.post(first).status_code == 202

        sqs.delete_queue(QueueUrl=url)
        outage = gateway.post(second)
        assert (outage.status_code, outage.json()["error"]["code"]) == (503, "queue_unavailable")
        assert outage.headers["Retry-After"]
        assert client.get("/readyz").status_code == 503

        assert sqs.create_queue(QueueName="ingest")["QueueUrl"] == url
        retry = gateway.post(second)
        assert retry.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
        # Counted once the queue took them; SQS's own depth is CloudWatch's, not ours.
        samples = {(sample.name, tuple(sample.labels.values())): sample.value
                   for family in text_string_to_metric_families(client.get("/metrics").text)
                   for sample in family.samples}
        assert samples["percus_events_accepted_total", ()] == 2
        assert samples["percus_events_rejected_total", ("queue_unavailable",)] == 1
        assert ("percus_queue_backlog_bytes", ()) not in samples

    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    stored = [json.loads(message["Body"]) for message in messages]
    assert [e["event_id"] for e in stored] == [second["event_id"]]
    assert stored[0]["organization_id"] == "acme"
