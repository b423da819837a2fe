"""The raw writer on the embedded default (LocalQueue + LocalStore) and on AWS (SQS + S3 on moto)."""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipeline.layout import parse_raw_key
from pipeline.queue.base import Message
from pipeline.queue.local import LocalQueue
from pipeline.queue.sqs import SqsQueue
from pipeline.raw import rawfile
from pipeline.raw.writer import WriteOutcome, Writer, drain_batch, write_messages
from pipeline.store.base import Store
from pipeline.store.local import LocalStore
from pipeline.store.s3 import S3Store


def event(org: str, received_at: str, **fields: Any) -> bytes:
    """A stored event as the gateway enqueues it: compact JSON of the enriched canonical model."""
    body = {"event_id": str(uuid.uuid4()), "schema_version": "1", "event_type": "video.started",
            "occurred_at": received_at, "received_at": received_at, "organization_id": org,
            "project_id": "p1", "device": {"type": "desktop", "os": "Linux", "browser": "Chrome"},
            "geo": {"country": None}, "consent": {"tracking": True}, "payload": {"position_ms": 0}}
    body.update(fields)
    return json.dumps(body, separators=(",", ":")).encode()


def raw_objects(store: Store, *, ignore: str = "") -> dict[str, list[bytes]]:
    """Every raw object's lines, by key."""
    return {key: gzip.decompress(store.get(key)).splitlines() for key in store.list("raw/") if key != ignore}


def partition(key: str) -> tuple[str, int]:
    """(organization, UTC hour) of a raw key; fails the test when the key is not at the layout."""
    parsed = parse_raw_key(key)
    assert parsed is not None, key
    return parsed[0], parsed[1].hour


MIXED = [
    event("acme", "2026-11-25T10:00:00.000Z"),
    event("globex", "2026-11-25T10:30:00.000Z"),
    event("acme", "2026-11-25T10:59:59.999Z"),
    event("acme", "2026-11-25T11:00:00.000Z"),
    event("globex", "2026-11-25T12:15:00.000+02:00"),  # 10:15 UTC
]


def test_groups_by_organization_and_hour_at_the_raw_layout(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    with LocalQueue(tmp_path / "queue", visibility_timeout=0.2) as queue:
        queue.send(MIXED)
        result = drain_batch(queue, store, max_wait=0)
        assert (result.received, result.events_written, result.objects_written) == (5, 5, 3)
        objects = raw_objects(store)
        groups = {partition(key): lines for key, lines in objects.items()}
        assert set(groups) == {("acme", 10), ("acme", 11), ("globex", 10)}
        # The lines are the queued bodies byte for byte, in the order received.
        assert groups[("acme", 10)] == [MIXED[0], MIXED[2]]
        assert groups[("globex", 10)] == [MIXED[1], MIXED[4]]
        assert sorted(line for lines in objects.values() for line in lines) == sorted(MIXED)
        time.sleep(0.3)
        assert queue.receive(10, 0) == []  # deleted once written


def test_a_redelivered_batch_overwrites_its_own_object(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    with LocalQueue(tmp_path / "queue", visibility_timeout=0.2) as queue:
        queue.send(MIXED)
        written = write_messages(store, queue.receive(100, 0))  # then "crash" before deleting
        before = raw_objects(store)
        assert sorted(written.keys) == sorted(before)
        time.sleep(0.3)
        result = drain_batch(queue, store, max_wait=0)
        assert result.events_written == 5
        assert raw_objects(store) == before  # same keys, same content: no duplicate objects


def test_a_failing_store_leaves_its_group_queued_and_loses_nothing(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    store = LocalStore(root)
    blocker = root / "raw" / "org=globex"
    blocker.parent.mkdir(parents=True)
    blocker.write_bytes(b"")  # a file where globex's directory must go: its writes fail
    with LocalQueue(tmp_path / "queue", visibility_timeout=0.2) as queue:
        queue.send(MIXED)
        result = drain_batch(queue, store, max_wait=0, release_delay=0.2)
        assert (result.events_written, result.failed) == (3, 2)
        assert {partition(key)[0] for key in raw_objects(store, ignore="raw/org=globex")} == {"acme"}
        blocker.unlink()
        time.sleep(0.3)
        retry = drain_batch(queue, store, max_wait=0)
        assert (retry.received, retry.events_written, retry.failed) == (2, 2, 0)
    lines = [line for lines in raw_objects(store).values() for line in lines]
    assert sorted(lines) == sorted(MIXED)


def test_a_store_outage_longer_than_the_receive_limit_buries_nothing(tmp_path: Path) -> None:
    # Every failed write is a delivery; without release() the events would reach the dead-letter log
    # after max_receives of them, although nothing is wrong with them.
    root = tmp_path / "bucket"
    blocker = root / "raw"
    root.mkdir()
    blocker.write_bytes(b"")  # the store cannot create raw/: every write fails
    with LocalQueue(tmp_path / "queue", visibility_timeout=60, max_receives=2) as queue:
        queue.send(MIXED)
        for _ in range(6):
            assert drain_batch(queue, LocalStore(root), max_wait=0, release_delay=0).failed == len(MIXED)
        blocker.unlink()
        assert drain_batch(queue, LocalStore(root), max_wait=0).events_written == len(MIXED)
        assert queue.dead_letters() == []
    assert sorted(line for lines in raw_objects(LocalStore(root)).values() for line in lines) == sorted(MIXED)


def test_a_body_repeated_within_a_batch_is_written_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    sent = [event("acme", "2026-11-25T10:00:00.000Z") for _ in range(3)]
    # A visibility timeout shorter than the batch window: the batch receives its messages again.
    with LocalQueue(tmp_path / "queue", visibility_timeout=0.1, max_receives=100) as queue:
        queue.send([*sent, sent[0]])  # and a sender's retry of the first one
        result = drain_batch(queue, store, max_wait=0.5, poll=0.05)
        assert result.received > 4
        assert (result.events_written, result.objects_written) == (3, 1)
        time.sleep(0.2)
        assert queue.receive(10, 0) == []  # every receipt was deleted
    assert sorted(line for lines in raw_objects(store).values() for line in lines) == sorted(sent)


POISON = [
    b"not json at all",
    b"\xff\xfe\x00 binary",
    b'["a", "list"]',
    event("../../etc", "2026-11-25T10:00:00.000Z"),
    event("acme", "yesterday"),
    event("acme", "2026-11-25T10:00:00"),  # no offset
    json.dumps({"organization_id": "acme"}).encode(),
]


def test_poison_ends_in_the_dead_letter_log_and_is_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LocalStore(tmp_path / "bucket")
    good = event("acme", "2026-11-25T10:00:00.000Z")
    with LocalQueue(tmp_path / "queue", visibility_timeout=0.3, max_receives=2) as queue:
        queue.send([POISON[0], good, *POISON[1:]])
        with caplog.at_level(logging.ERROR, logger="pipeline"):
            first = drain_batch(queue, store, max_wait=0)
            assert (first.events_written, first.poison) == (1, len(POISON))
            deadline = time.monotonic() + 10
            while len(queue.dead_letters()) < len(POISON) and time.monotonic() < deadline:
                drain_batch(queue, store, max_wait=0.3, poll=0.05)
        assert queue.dead_letters() == POISON
    assert [line for lines in raw_objects(store).values() for line in lines] == [good]
    assert "can never be written" in caplog.text
    for marker in ("not json at all", "binary", "list", "etc", "yesterday"):
        assert marker not in caplog.text


def test_bodies_are_routed_as_json_loads_reads_them(tmp_path: Path) -> None:
    # Routing reads three fields without decoding the whole body; what that parser refuses but
    # json.loads accepts (a byte-order mark, a lone surrogate) must still be routed, a repeated key
    # must keep its last value, and what neither accepts is poison, never a failed batch.
    store = LocalStore(tmp_path / "bucket")
    at = "2026-11-25T10:00:00.000Z"
    routed = [
        b"\xef\xbb\xbf" + event("acme", at),
        event("acme", at, template_id="\ud800"),
        b'{"organization_id":"globex",' + event("acme", at)[1:],
        event("acme", "2026-11-25T10:00:00.000+02:00"),  # 08:00 UTC
    ]
    poison = [
        b'{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"," + event("acme", at)[1:],  # too deep for json
        event("acme", "2026-02-30T10:00:00.000Z"),
        b'{"x":"\xff",' + event("acme", at)[1:],  # not UTF-8, in a field routing does not read
        event("acme", at) + b" trailing",
    ]
    with LocalQueue(tmp_path / "queue") as queue:
        queue.send([*routed, *poison])
        result = drain_batch(queue, store, max_wait=0)
    assert (result.events_written, result.poison) == (len(routed), len(poison))
    groups = {partition(key): lines for key, lines in raw_objects(store).items()}
    assert groups == {("acme", 10): routed[:3], ("acme", 8): routed[3:]}


def test_an_event_routes_in_a_batch_as_it_would_alone(tmp_path: Path) -> None:
    # A batch is routed at once, but for the events that cannot be (a second not seen before, a field
    # of another type than a string, no event id…), routed one by one: no event's route depends on
    # the others in its batch.
    at = "2026-11-25T10:00:00.000Z"
    odd = [
        event("acme", "2026-11-25T10:00:00.001Z", event_id=7),  # named by its digest
        event("acme", "2026-11-25T10:00:00.002Z", organization_id=5),
        json.dumps({**json.loads(event("acme", at)), "received_at": [at]}, separators=(",", ":")).encode(),
        event("acme", at, organization_id=["acme"]),
        event("globex", "2026-11-25T11:59:59.999Z"),  # a second not routed before
        event("ac me", at),
        event("acme", "2026-11-25T10:00:00.000+00:00"),  # not the wire form
    ]
    bodies = [event("acme", at) for _ in range(5)] + odd + [event("acme", at) for _ in range(5)]
    alone: dict[tuple[str, int], list[bytes]] = {}
    poison_alone = []
    for number, body in enumerate(bodies):
        store = LocalStore(tmp_path / f"alone-{number}")
        outcome = write_messages(store, [Message(body, str(number), 1)])
        poison_alone += [message.body for message in outcome.poison]
        for key, lines in raw_objects(store).items():
            alone.setdefault(partition(key), []).extend(lines)
    store = LocalStore(tmp_path / "batch")
    outcome = write_messages(store, [Message(body, str(number), 1) for number, body in enumerate(bodies)])
    assert [message.body for message in outcome.poison] == poison_alone == [odd[1], odd[2], odd[3], odd[5]]
    assert {partition(key): lines for key, lines in raw_objects(store).items()} == alone
    assert set(alone) == {("acme", 10), ("globex", 11)}
    assert write_messages(store, []) == WriteOutcome([], [], [], [], 0)


def test_a_multi_line_body_becomes_one_ndjson_line(tmp_path: Path) -> None:
    # Among compact bodies, written as they came: line breaks are looked for in the whole batch first.
    store = LocalStore(tmp_path / "bucket")
    compact = [event("acme", "2026-11-25T10:00:00.000Z") for _ in range(2)]
    pretty = json.dumps(json.loads(event("acme", "2026-11-25T10:00:00.000Z")), indent=2).encode()
    carriage = b'{"schema_version":"1",\r' + event("acme", "2026-11-25T10:00:00.000Z")[1:]
    with LocalQueue(tmp_path / "queue") as queue:
        queue.send([compact[0], pretty, carriage, compact[1]])
        assert drain_batch(queue, store, max_wait=0).events_written == 4
    ((key, lines),) = raw_objects(store).items()
    assert lines[0] == compact[0] and lines[3] == compact[1]
    assert [json.loads(line) for line in lines[1:3]] == [json.loads(pretty), json.loads(carriage)]
    assert list(rawfile.decode(store.get(key))) == [json.loads(body) for body in
                                                    (compact[0], pretty, carriage, compact[1])]


def test_batches_close_at_max_events(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    with LocalQueue(tmp_path / "queue") as queue:
        queue.send([event("acme", "2026-11-25T10:00:00.000Z") for _ in range(25)])
        sizes = [drain_batch(queue, store, max_events=10, max_wait=0).received for _ in range(4)]
    assert sizes == [10, 10, 5, 0]
    assert sorted(len(lines) for lines in raw_objects(store).values()) == [5, 10, 10]


def test_run_writes_until_stopped_and_flushes_on_stop(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    with LocalQueue(tmp_path / "queue") as queue:
        # A long max_wait: only the stop makes the writer write the last batch.
        writer = Writer(queue, store, max_wait=30, poll=0.05)
        stop = threading.Event()
        thread = threading.Thread(target=writer.run, args=(stop,))
        thread.start()
        sent = [event("acme", "2026-11-25T10:00:00.000Z") for _ in range(40)]
        for i in range(0, 40, 10):
            queue.send(sent[i : i + 10])
        time.sleep(0.1)
        stop.set()
        thread.join(timeout=20)
        assert not thread.is_alive()
        assert writer.totals.events_written == 40
        assert queue.receive(10, 0) == []
    assert sorted(line for lines in raw_objects(store).values() for line in lines) == sorted(sent)


def test_a_batch_that_wrote_objects_tells_the_pipeline(tmp_path: Path) -> None:
    told: list[int] = []
    with LocalQueue(tmp_path / "queue") as queue:
        writer = Writer(queue, LocalStore(tmp_path / "bucket"), max_wait=0, on_written=lambda: told.append(1))
        writer.drain()  # nothing queued: nothing written, nothing told
        queue.send([event("acme", "2026-11-25T10:00:00.000Z")])
        writer.drain()
    assert told == [1]


@pytest.mark.aws
def test_on_aws_events_land_in_s3_and_poison_in_the_redrive_dlq(aws: str) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="percus-analytics")
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]
    dlq_arn = attributes["QueueArn"]
    url = sqs.create_queue(QueueName="events", Attributes={
        "VisibilityTimeout": "1",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
    })["QueueUrl"]
    queue, store = SqsQueue(url), S3Store("percus-analytics", "prod")
    queue.send([*MIXED, b"not json"])

    result = drain_batch(queue, store, max_wait=0)
    assert (result.events_written, result.objects_written, result.poison) == (5, 3, 1)
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="percus-analytics")["Contents"]]
    assert all(key.startswith("prod/") and partition(key[len("prod/"):]) for key in keys)
    assert sorted(line for lines in raw_objects(store).values() for line in lines) == sorted(MIXED)

    deadline = time.monotonic() + 15
    dead: list[dict[str, Any]] = []
    while not dead and time.monotonic() < deadline:
        drain_batch(queue, store, max_wait=1.2, poll=0.2)
        dead = sqs.receive_message(QueueUrl=dlq_url).get("Messages", [])
    assert [m["Body"] for m in dead] == ["not json"]
    assert len(keys) == len(list(store.list("raw/")))  # the good events were not written again


@pytest.mark.aws
def test_on_aws_a_missing_bucket_loses_nothing(aws: str) -> None:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="events", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    queue, store = SqsQueue(url), S3Store("not-created-yet")
    queue.send(MIXED)
    failed = drain_batch(queue, store, max_wait=0)
    assert (failed.received, failed.events_written, failed.failed) == (5, 0, 5)
    boto3.client("s3").create_bucket(Bucket="not-created-yet")
    time.sleep(1.1)
    retry = drain_batch(queue, store, max_wait=0)
    assert (retry.received, retry.events_written) == (5, 5)
    assert sorted(line for lines in raw_objects(store).values() for line in lines) == sorted(MIXED)
