"""SqsQueue against a real moto server over HTTP."""

from __future__ import annotations

import socket
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config

from pipeline.queue.base import QueueUnavailable
from pipeline.queue.sqs import SqsQueue

pytestmark = pytest.mark.aws


def make_queue(name: str, **attributes: str) -> tuple[Any, str]:
    client = boto3.client("sqs")
    return client, client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def batch_sizes(client: Any) -> list[list[int]]:
    """Records the body sizes of every SendMessageBatch call the client makes."""
    calls: list[list[int]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append([len(entry["MessageBody"].encode()) for entry in params["Entries"]])

    client.meta.events.register("provide-client-params.sqs.SendMessageBatch", record)
    return calls


def drain(queue: SqsQueue) -> list[bytes]:
    out = []
    while messages := queue.receive(100, 0):
        out.extend(m.body for m in messages)
        queue.delete([m.receipt for m in messages])
    return out


def test_send_goes_in_batches_of_ten(aws: str) -> None:
    client, url = make_queue("events")
    calls = batch_sizes(client)
    queue = SqsQueue(url, client=client)
    bodies = [f'{{"n":{i}}}'.encode() for i in range(25)]
    queue.send(bodies)
    assert [len(call) for call in calls] == [10, 10, 5]
    assert sorted(drain(queue)) == sorted(bodies)


def test_send_keeps_each_batch_within_256_kib(aws: str) -> None:
    client, url = make_queue("big")
    calls = batch_sizes(client)
    queue = SqsQueue(url, client=client)
    bodies = [bytes([ord("a") + i]) * 100_000 for i in range(5)]
    queue.send(bodies)
    assert [len(call) for call in calls] == [2, 2, 1]
    assert all(sum(call) <= 262_144 for call in calls)
    assert sorted(drain(queue)) == bodies


def test_bodies_sqs_cannot_carry_are_refused_before_sending(aws: str) -> None:
    client, url = make_queue("refuse")
    calls = batch_sizes(client)
    queue = SqsQueue(url, client=client)
    for bad in (b"x" * 262_145, b"", b"\xff\xfe", "bad \ufffe char".encode()):
        with pytest.raises(ValueError):
            queue.send([b"fine", bad])
    assert calls == []


def test_failed_entries_are_retried_until_accepted(aws: str) -> None:
    client, url = make_queue("partial")
    calls = batch_sizes(client)
    first_call = [True]

    def reject_one_entry(params: dict[str, Any], **_: Any) -> None:
        # A DelaySeconds SQS refuses makes the real server fail just this entry of the batch.
        if first_call[0]:
            params["Entries"][3]["DelaySeconds"] = 1000
            first_call[0] = False

    client.meta.events.register("provide-client-params.sqs.SendMessageBatch", reject_one_entry)
    queue = SqsQueue(url, client=client)
    bodies = [f"event {i}".encode() for i in range(10)]
    queue.send(bodies)
    assert [len(call) for call in calls] == [10, 1]
    assert sorted(drain(queue)) == sorted(bodies)


def test_entries_that_keep_failing_raise_queue_unavailable(aws: str) -> None:
    client, url = make_queue("stubborn")

    def always_reject(params: dict[str, Any], **_: Any) -> None:
        params["Entries"][0]["DelaySeconds"] = 1000

    client.meta.events.register("provide-client-params.sqs.SendMessageBatch", always_reject)
    queue = SqsQueue(url, client=client, attempts=2)
    with pytest.raises(QueueUnavailable, match="did not accept 1 message"):
        queue.send([b"a", b"b"])


def test_receive_delete_and_redelivery_after_the_visibility_timeout(aws: str) -> None:
    client, url = make_queue("visibility")
    queue = SqsQueue(url, client=client, visibility_timeout=1)
    queue.send([b"kept", b"done"])
    first = queue.receive(10, 1)
    assert sorted((m.body, m.receive_count) for m in first) == [(b"done", 1), (b"kept", 1)]
    queue.delete([m.receipt for m in first if m.body == b"done"])
    assert queue.receive(10, 0) == []
    time.sleep(1.1)
    again = queue.receive(10, 2)
    assert [(m.body, m.receive_count) for m in again] == [(b"kept", 2)]
    queue.delete([again[0].receipt])
    time.sleep(1.1)
    assert queue.receive(10, 0) == []


def test_receive_gathers_more_than_ten(aws: str) -> None:
    client, url = make_queue("many")
    queue = SqsQueue(url, client=client)
    queue.send([f"m{i}".encode() for i in range(35)])
    messages = queue.receive(30, 1)
    assert len(messages) == 30
    queue.delete([m.receipt for m in messages])
    assert len(drain(queue)) == 5


def test_unreachable_endpoint_raises_queue_unavailable(aws: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        client = boto3.client("sqs", endpoint_url=dead,
                              config=Config(connect_timeout=1, retries={"max_attempts": 1}))
        queue = SqsQueue(f"{dead}/123456789012/events", client=client)
        with pytest.raises(QueueUnavailable, match="send failed"):
            queue.send([b"x"])
        with pytest.raises(QueueUnavailable, match="receive failed"):
            queue.receive(10, 0)
        with pytest.raises(QueueUnavailable, match="delete failed"):
            queue.delete(["receipt"])


def test_receipts_sqs_refuses_to_delete_are_reported(aws: str) -> None:
    client, url = make_queue("deletes")
    queue = SqsQueue(url, client=client, attempts=2)
    queue.send([b"real"])
    (message,) = queue.receive(10, 1)
    with pytest.raises(QueueUnavailable, match="did not delete 1 message"):
        queue.delete([message.receipt, "not-a-receipt-handle"])
    assert queue.receive(10, 0) == []  # the real one was deleted all the same
