"""The AWS queue: an SQS standard queue (dead-lettering is the queue's redrive policy)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pipeline.queue.base import Message, QueueUnavailable

BATCH_ENTRIES = 10  # SQS's limit on entries per batch call
BATCH_BYTES = 262_144  # 256 KiB per batch: the limit every SQS queue accepts, whatever its settings
MAX_WAIT = 20  # SQS's longest long poll
_REGION = re.compile(r"^https://sqs\.([a-z0-9-]+)\.amazonaws\.com/")
# Characters SQS accepts in a message body (anything else fails the whole batch call).
_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _default_client(queue_url: str) -> Any:
    # Short connect timeout so a dead endpoint fails an ingest request fast; the read timeout
    # outlasts the longest long poll.
    config = Config(connect_timeout=3, read_timeout=MAX_WAIT + 10,
                    retries={"mode": "standard", "max_attempts": 3})
    match = _REGION.match(queue_url)
    return boto3.client("sqs", region_name=match[1] if match else None, config=config)


class SqsQueue:
    io_bound = True

    def __init__(
        self,
        queue_url: str,
        *,
        client: Any = None,
        visibility_timeout: int | None = None,
        attempts: int = 3,
    ) -> None:
        """visibility_timeout None keeps the queue's own; attempts bounds retries of failed entries."""
        self.queue_url = queue_url
        self.visibility_timeout = visibility_timeout
        self.attempts = attempts
        self._owns_client = client is None
        self._client = _default_client(queue_url) if client is None else client

    def send(self, bodies: Sequence[bytes]) -> None:
        """Enqueue every body or raise QueueUnavailable.

        Bodies travel in several batch calls, so on failure some may already be enqueued: a retry by
        the sender then makes duplicates, which the compactor removes by event_id. No body that was
        not enqueued is ever reported as sent.
        """
        for batch in _batches([(_text(body), len(body)) for body in bodies]):
            self._send_batch(batch)

    def _send_batch(self, batch: list[str]) -> None:
        pending = {str(i): text for i, text in enumerate(batch)}
        failures: list[dict[str, Any]] = []
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(0.05 * 2**attempt)
            try:
                response = self._client.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": i, "MessageBody": text} for i, text in pending.items()],
                )
            except (BotoCoreError, ClientError) as exc:
                raise QueueUnavailable(f"SQS send failed: {exc}") from exc
            # Anything not listed as successful counts as failed, whatever the response says.
            done = {entry["Id"] for entry in response.get("Successful", [])}
            pending = {i: text for i, text in pending.items() if i not in done}
            failures = response.get("Failed", [])
            if not pending:
                return
        codes = sorted({entry.get("Code", "?") for entry in failures}) or ["no answer"]
        raise QueueUnavailable(
            f"SQS did not accept {len(pending)} message(s) after {self.attempts} attempts: {', '.join(codes)}"
        )

    def receive(self, max_messages: int, wait_seconds: float) -> list[Message]:
        """Long-polls up to wait_seconds for the first messages, then takes what is there at once."""
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        deadline = time.monotonic() + max(0.0, wait_seconds)
        messages: list[Message] = []
        while len(messages) < max_messages:
            # SQS waits whole seconds; round up so a short wait still long-polls instead of spinning.
            remaining = deadline - time.monotonic()
            wait = 0 if messages else min(MAX_WAIT, max(0, math.ceil(remaining)))
            request: dict[str, Any] = {
                "QueueUrl": self.queue_url,
                "MaxNumberOfMessages": min(BATCH_ENTRIES, max_messages - len(messages)),
                "WaitTimeSeconds": wait,
                "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
            }
            if self.visibility_timeout is not None:
                request["VisibilityTimeout"] = self.visibility_timeout
            try:
                response = self._client.receive_message(**request)
            except (BotoCoreError, ClientError) as exc:
                if messages:  # keep what we hold; the rest stays in the queue
                    break
                raise QueueUnavailable(f"SQS receive failed: {exc}") from exc
            received = response.get("Messages", [])
            messages.extend(
                Message(
                    body=item["Body"].encode(),
                    receipt=item["ReceiptHandle"],
                    receive_count=int(item.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
                )
                for item in received
            )
            if not received and (messages or time.monotonic() >= deadline):
                break
        return messages

    def delete(self, receipts: Sequence[str]) -> None:
        """Deletes every receipt it can; raises QueueUnavailable naming how many stay (to be redelivered)."""
        unique = list(dict.fromkeys(receipts))  # SQS rejects a batch that repeats a receipt
        left = 0
        codes: set[str] = set()
        for start in range(0, len(unique), BATCH_ENTRIES):
            pending = {str(i): receipt for i, receipt in enumerate(unique[start : start + BATCH_ENTRIES])}
            for _ in range(self.attempts):
                try:
                    response = self._client.delete_message_batch(
                        QueueUrl=self.queue_url,
                        Entries=[{"Id": i, "ReceiptHandle": r} for i, r in pending.items()],
                    )
                except (BotoCoreError, ClientError) as exc:
                    raise QueueUnavailable(f"SQS delete failed: {exc}") from exc
                done = {entry["Id"] for entry in response.get("Successful", [])}
                pending = {i: r for i, r in pending.items() if i not in done}
                if not pending:
                    break
                codes.update(entry.get("Code", "?") for entry in response.get("Failed", []))
            left += len(pending)
        if left:
            raise QueueUnavailable(f"SQS did not delete {left} message(s): {', '.join(sorted(codes)) or '?'}")

    def release(self, receipts: Sequence[str], delay: float) -> None:
        """Nothing to do: SQS counts the receive whatever happens, and the message comes back after its
        visibility timeout; shortening it would only spend the receives the redrive policy allows."""

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


def _text(body: bytes) -> str:
    if not 0 < len(body) <= BATCH_BYTES:
        raise ValueError(f"a message body must be 1 to {BATCH_BYTES} bytes, got {len(body)}")
    text = body.decode()  # UnicodeDecodeError is a ValueError: SQS carries text only
    if _INVALID.search(text):
        raise ValueError("message body holds characters SQS does not accept")
    return text


def _batches(texts: list[tuple[str, int]]) -> Iterator[list[str]]:
    """Runs of at most BATCH_ENTRIES bodies whose UTF-8 sizes add up to at most BATCH_BYTES."""
    batch: list[str] = []
    size = 0
    for text, length in texts:
        if batch and (len(batch) == BATCH_ENTRIES or size + length > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(text)
        size += length
    if batch:
        yield batch
