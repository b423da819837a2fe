"""The AWS path under load and faults, against moto server: SQS, S3, the raw writer, the compactor.

1. Two `percus serve` replicas (gateway and raw writer each) on one SQS queue and one bucket take
   1,000 events from concurrent clients, 5 % of them re-sent: curated holds exactly the unique ones.
2. The writer's AWS endpoint goes away mid-run (a proxy between its boto3 clients and moto is
   stopped, then started again on the same port): it logs and retries, deletes no message before its
   object is written, and compaction still yields exactly the unique events.
"""

from __future__ import annotations

import json
import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from gateway.tokens import issue_token
from pipeline.config import load_settings
from pipeline.curated.compactor import compact
from pipeline.queue.base import Message, QueueUnavailable
from pipeline.queue.sqs import SqsQueue
from pipeline.raw.rawfile import decode
from pipeline.raw.writer import Writer
from pipeline.store.s3 import S3Store
from tests.gateway._events import PAYLOADS
from tests.gateway._events import event as make_event
from tests.reliability._load import Answers, cut, post
from tests.reliability._proxy import proxy_to
from tests.reliability._serve import curated_ids, raw_events, serving
from translator.canonical import format_timestamp

pytestmark = [pytest.mark.aws, pytest.mark.slow]

BUCKET = "percus-load"
TOKEN_KEYS = "k1:aws-load-secret"
EVENT_TYPES = sorted(PAYLOADS)
# moto's SQS rescans the whole queue for every message it hands out (moto 5.2: receive_message reads
# all queue attributes per message), so draining grows with the square of the queue's depth: that,
# not the code under test, bounds the scale here (1,000 events take about half a minute).
UNIQUE = 1_000
SIZES = (2, 10, 25, 50, 100)  # batch sizes: a 500-event batch is 50 SQS calls to moto


def _stack(visibility_timeout: int) -> tuple[Any, str, str]:
    """The queue with its dead-letter queue (5 receives, as deploy/template.yaml) and the bucket."""
    sqs = boto3.client("sqs")
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    dlq_url = sqs.create_queue(QueueName="percus-load-dlq")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]
    dlq_arn = attributes["QueueArn"]
    queue_url = sqs.create_queue(QueueName="percus-load", Attributes={
        "VisibilityTimeout": str(visibility_timeout),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
    })["QueueUrl"]
    return sqs, queue_url, dlq_url


def _queued(sqs: Any, url: str) -> int:
    """Messages in the queue, visible or in flight."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return sum(int(value) for value in attributes.values())


def test_two_replicas_on_sqs_and_s3_store_exactly_the_unique_events(aws: str, tmp_path: Path) -> None:
    unique, resent = UNIQUE, UNIQUE // 20
    rng = random.Random(5000)
    sqs, queue_url, dlq_url = _stack(visibility_timeout=120)
    env = {"PERCUS_QUEUE": queue_url, "PERCUS_STORE": f"s3://{BUCKET}/v1", "PERCUS_TOKEN_KEYS": TOKEN_KEYS,
           "PERCUS_VIEWER_KEYS": "aws:viewer-key-for-tests"}
    share = issue_token(load_settings({"PERCUS_TOKEN_KEYS": TOKEN_KEYS}).token_keys, "acme", "p1")
    events = [make_event(EVENT_TYPES[i % len(EVENT_TYPES)]) for i in range(unique)]
    half = unique // 2
    # Re-sends to the replica that took the first copy are answered as duplicates; those to the other
    # replica, which never saw them, are enqueued again and must be dropped by the compactor.
    same = rng.sample(events[:half], resent // 2)
    across = rng.sample(events[:half], resent // 2)

    answers = Answers()
    with serving(tmp_path / "a", tmp_path / "a.log", **env) as a, \
            serving(tmp_path / "b", tmp_path / "b.log", **env) as b:
        for base, part, resend in ((a.base, events[:half], False), (b.base, events[half:], False),
                                   (a.base, same, True), (b.base, across, True)):
            requests = cut(part, rng, singles=len(part) // 10, resend=resend, sizes=SIZES)
            post([base], share, requests, answers, clients=4)
        for replica in (a, b):  # each writer flushes what it can still receive
            assert replica.stop() in (0, -signal.SIGTERM), replica.output()
            assert "Traceback" not in replica.output()

    assert answers.failures == []
    assert set(answers.statuses) == {202}
    assert answers.acknowledged == {str(e["event_id"]) for e in events}
    assert (answers.accepted, answers.duplicates) == (unique + resent // 2, resent // 2)
    assert _queued(sqs, queue_url) == 0 and _queued(sqs, dlq_url) == 0

    store = S3Store(BUCKET, "v1")
    raw = [str(e["event_id"]) for e in raw_events(store)]
    assert len(raw) >= unique + resent // 2 and set(raw) == answers.acknowledged
    report = compact(store)
    assert report.duplicates_dropped == len(raw) - unique
    ids = curated_ids(store, "acme")
    assert len(ids) == unique and set(ids) == answers.acknowledged


# --- the endpoint goes away mid-run ------------------------------------------------------------------

class ObservedQueue:
    """The real SqsQueue, with every receipt's event id noted and every delete checked against what
    the store has written (a spy around the real part: each call goes through to moto)."""

    def __init__(self, queue: SqsQueue, store: ObservedStore) -> None:
        self.queue = queue
        self.store = store
        self.io_bound = queue.io_bound
        self.event_of: dict[str, str] = {}
        self.deleted: list[str] = []
        self.deleted_unwritten: list[str] = []
        self.deletes_failed = 0

    def send(self, bodies: Sequence[bytes]) -> None:
        self.queue.send(bodies)

    def receive(self, max_messages: int, wait_seconds: float) -> list[Message]:
        messages = self.queue.receive(max_messages, wait_seconds)
        for message in messages:
            self.event_of[message.receipt] = json.loads(message.body)["event_id"]
        return messages

    def delete(self, receipts: Sequence[str]) -> None:
        ids = [self.event_of[receipt] for receipt in receipts]
        self.deleted_unwritten += [event_id for event_id in ids if event_id not in self.store.written]
        # Noted as asked, whatever the answer: an outage can cut the connection after SQS deleted them.
        self.deleted += ids
        try:
            self.queue.delete(receipts)
        except QueueUnavailable:
            self.deletes_failed += 1
            raise

    def release(self, receipts: Sequence[str], delay: float) -> None:
        self.queue.release(receipts, delay)

    def close(self) -> None:
        self.queue.close()


class ObservedStore(S3Store):
    """The real S3Store, noting the event ids of each raw object once S3 has taken it; `around_put`
    is called before and after each put attempt (to start an outage at that moment)."""

    def __init__(self, *args: Any, around_put: Callable[[str, int], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.written: set[str] = set()
        self.puts = 0
        self.puts_failed = 0
        self.around_put = around_put

    def put(self, key: str, data: bytes) -> None:
        self.puts += 1
        self.around_put("before", self.puts)
        try:
            super().put(key, data)
        except Exception:
            self.puts_failed += 1
            raise
        if key.startswith("raw/"):
            self.written.update(str(e["event_id"]) for e in decode(data))
        self.around_put("after", self.puts)


def _stored_bodies(count: int) -> list[bytes]:
    """Events as the gateway enqueues them."""
    now = format_timestamp(datetime.now(UTC))
    return [json.dumps(make_event(EVENT_TYPES[i % len(EVENT_TYPES)], organization_id="acme", project_id="p1",
                                  received_at=now, device={"type": "desktop", "os": "Linux",
                                                           "browser": "Chrome", "is_bot": False}),
                       separators=(",", ":")).encode() for i in range(count)]


def _wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.05)


def test_the_writer_survives_its_aws_endpoint_going_away(aws: str, caplog: pytest.LogCaptureFixture,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # Long enough that a message held through an outage (each up to ~2 s of refused connects and
    # retries) is not received five times and buried, even on a loaded CI machine.
    sqs, queue_url, dlq_url = _stack(visibility_timeout=6)
    batches = [_stored_bodies(200) for _ in range(3)]
    resent = random.Random(3).sample(batches[0], 30)  # 5 %: a sender's retries, queued twice
    direct = SqsQueue(queue_url)  # the gateway's side: straight to moto
    direct.send(batches[0] + resent)
    unique = {json.loads(body)["event_id"] for batch in batches for body in batch}

    with proxy_to(aws) as proxy, caplog.at_level(logging.WARNING, logger="pipeline"):
        outage = threading.Event()

        def cut_at(stage: str, put: int) -> None:
            # Three outages: between two calls (below), as a put is about to go (it fails), and
            # once a put has gone (the delete after it fails).
            if (stage, put) in (("before", 4), ("after", 7)):
                proxy.stop()
                outage.set()

        config = Config(connect_timeout=1, read_timeout=10, retries={"mode": "standard", "max_attempts": 2})
        store = ObservedStore(BUCKET, "v1", around_put=cut_at,
                              client=boto3.client("s3", endpoint_url=proxy.url, config=config))
        queue = ObservedQueue(SqsQueue(queue_url, client=boto3.client("sqs", endpoint_url=proxy.url,
                                                                      config=config)), store)
        writer = Writer(queue, store, max_events=50, max_wait=0.3, poll=0.1, retry_delay=0.2)
        stop = threading.Event()
        thread = threading.Thread(target=writer.run, args=(stop,), name="writer-under-test")
        thread.start()
        try:
            _wait_for(lambda: store.puts >= 2, 60, "the writer wrote a few objects")
            proxy.stop()  # mid-run: open connections reset, new ones refused
            outage.set()
            for more in [*batches[1:], []]:
                _wait_for(outage.is_set, 60, "the next outage")
                outage.clear()
                if more:
                    direct.send(more)  # the gateway keeps enqueueing meanwhile
                time.sleep(2)  # the outage: how long, not how fast anything is
                proxy.start()  # back on the same port
            _wait_for(lambda: _queued(sqs, queue_url) == 0, 90, "the queue drained")
        finally:
            stop.set()
            thread.join(timeout=60)
        assert not thread.is_alive()

    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("pipeline")]
    with capsys.disabled():
        print(f"\nwriter outages: {len(unique)} events, 3 outages, {len(warnings)} writer warnings, "
              f"{store.puts_failed} failed puts, {queue.deletes_failed} failed deletes, "
              f"{store.puts - store.puts_failed} objects written (information only)")
    assert any("queue unavailable" in text for text in warnings), warnings
    assert any("cannot write" in text for text in warnings), warnings
    assert any("not deleted" in text for text in warnings), warnings
    assert store.puts_failed >= 1 and queue.deletes_failed >= 1
    assert _queued(sqs, dlq_url) == 0  # nothing buried in the dead-letter queue
    assert queue.deleted_unwritten == []  # no message deleted before its object was written
    assert set(queue.deleted) == unique  # and each was deleted once written

    moto_store = S3Store(BUCKET, "v1")
    raw = [str(e["event_id"]) for e in raw_events(moto_store)]
    assert set(raw) == unique and len(raw) > len(unique)  # the undeleted batch was written again
    compact(moto_store)
    ids = curated_ids(moto_store, "acme")
    assert len(ids) == len(unique) and set(ids) == unique
