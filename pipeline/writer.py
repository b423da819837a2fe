"""The raw writer: drains the queue into one gzip NDJSON object per organization and hour.

At-least-once: a message is deleted only after the object holding it is written, so a crash in
between writes it again (the compactor drops duplicates by event_id) and never loses it. A batch's
key is derived from its event ids, so a redelivered identical batch overwrites its own object.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, datetime

from pipeline import rawfile
from pipeline.layout import check_slug, raw_key
from pipeline.queue.base import Message, Queue, QueueUnavailable
from pipeline.store.base import Store

log = logging.getLogger(__name__)

MAX_EVENTS = 1000  # one object per organization and hour per batch: bounds S3 PUTs (design doc)
_BATCH_IDS = uuid.UUID("762f34de-78f7-4777-a77d-a65f0e24cd35")  # uuid5 namespace of batch ids


@dataclass(frozen=True)
class BatchResult:
    received: int = 0  # messages
    events_written: int = 0  # NDJSON lines
    objects_written: int = 0
    failed: int = 0  # messages left queued by a store failure: delivered again after the visibility timeout
    poison: int = 0  # messages that can never be written: left queued for the dead-letter queue

    def __add__(self, other: BatchResult) -> BatchResult:
        return BatchResult(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass(frozen=True)
class WriteOutcome:
    written: list[Message]  # safe to delete
    failed: list[Message]
    poison: list[Message]
    keys: list[str]  # objects written
    lines: int  # events written (a body repeated within the batch counts once)


def write_messages(store: Store, messages: Sequence[Message]) -> WriteOutcome:
    """Write messages as raw objects, one per (organization, hour of received_at); delete nothing."""
    groups: dict[tuple[str, datetime], list[tuple[Message, bytes, str]]] = {}
    poison = []
    repeats: dict[bytes, list[Message]] = {}
    for message in messages:
        # A body seen twice in one batch (a redelivery, or a sender's retry) is written once; all
        # its receipts are deleted with it.
        if message.body in repeats:
            repeats[message.body].append(message)
            continue
        repeats[message.body] = []
        try:
            org, hour, line, identity = _route(message.body)
        except ValueError as exc:
            # The reason is our own text, never a piece of the body, which may be anything.
            log.error("raw writer: a %d-byte message (receive %d) can never be written: %s; it stays "
                      "queued until the dead-letter queue takes it", len(message.body),
                      message.receive_count, exc)
            poison.append(message)
            continue
        groups.setdefault((org, hour), []).append((message, line, identity))
    written: list[Message] = []
    failed: list[Message] = []
    keys = []
    lines = 0
    for (org, hour), items in groups.items():
        batch_id = uuid.uuid5(_BATCH_IDS, "\n".join(sorted(identity for _, _, identity in items)))
        key = raw_key(org, hour, str(batch_id))
        try:
            store.put(key, rawfile.encode(line for _, line, _ in items))
        except Exception as exc:  # whatever the store raised, these messages must stay queued
            log.warning("raw writer: cannot write %s (%d events); they stay queued: %s", key, len(items), exc)
            failed.extend(message for message, _, _ in items)
        else:
            written.extend(message for message, _, _ in items)
            keys.append(key)
            lines += len(items)
    for outcomes in (written, failed, poison):
        outcomes.extend([repeat for message in outcomes for repeat in repeats[message.body]])
    return WriteOutcome(written, failed, poison, keys, lines)


def _route(body: bytes) -> tuple[str, datetime, bytes, str]:
    """(organization, hour, NDJSON line, identity) of a stored event; ValueError when it has none."""
    try:
        event = json.loads(body)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(event, dict):
        raise ValueError("not a JSON object")
    org = event.get("organization_id")
    received_at = event.get("received_at")
    if not isinstance(org, str) or not _is_slug(org):
        raise ValueError("organization_id is missing or not a valid identifier")
    if not isinstance(received_at, str):
        raise ValueError("received_at is missing")
    try:
        received = datetime.fromisoformat(received_at)
    except ValueError:
        raise ValueError("received_at is not an ISO-8601 time") from None
    if received.tzinfo is None:
        raise ValueError("received_at has no UTC offset")
    hour = received.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    event_id = event.get("event_id")
    identity = event_id if isinstance(event_id, str) else hashlib.sha256(body).hexdigest()
    # The gateway enqueues compact JSON, written as it came; only a multi-line body is re-serialised,
    # because an NDJSON line cannot hold a line break.
    line = body
    if b"\n" in body or b"\r" in body:
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    return org, hour, line, identity


def _is_slug(value: str) -> bool:
    try:
        check_slug(value)
    except ValueError:
        return False
    return True


def drain_batch(
    queue: Queue,
    store: Store,
    *,
    max_events: int = MAX_EVENTS,
    max_wait: float = 2.0,
    poll: float = 0.5,
    stop: threading.Event | None = None,
) -> BatchResult:
    """Receive one batch, write it, delete what was written.

    Waits up to max_wait for a first message; the batch then closes at max_events or max_wait after
    that first message. Once stop is set, it takes only what is already queued.
    """
    messages = _receive_batch(queue, max_events, max_wait, poll, stop)
    if not messages:
        return BatchResult()
    outcome = write_messages(store, messages)
    if outcome.written:
        try:
            queue.delete([message.receipt for message in outcome.written])
        except QueueUnavailable as exc:
            log.warning("raw writer: written events not deleted, they will be written again: %s", exc)
    result = BatchResult(
        received=len(messages),
        events_written=outcome.lines,
        objects_written=len(outcome.keys),
        failed=len(outcome.failed),
        poison=len(outcome.poison),
    )
    log.debug("raw writer: %s", result)
    return result


def _receive_batch(
    queue: Queue, max_events: int, max_wait: float, poll: float, stop: threading.Event | None
) -> list[Message]:
    def stopping() -> bool:
        return stop is not None and stop.is_set()

    # Wait for the first messages in poll-long slices, so a stop is noticed.
    deadline = time.monotonic() + max_wait
    while True:
        remaining = deadline - time.monotonic()
        wait = 0.0 if stopping() else max(0.0, min(poll, remaining))
        messages = queue.receive(max_events, wait)
        if messages or remaining <= 0 or stopping():
            break
    deadline = time.monotonic() + max_wait
    while messages and len(messages) < max_events:
        remaining = deadline - time.monotonic()
        if remaining > 0 and not stopping():
            # Let the queue fill between receives instead of taking events a few at a time.
            if stop is None:
                time.sleep(min(poll, remaining))
            else:
                stop.wait(min(poll, remaining))
        more = queue.receive(max_events - len(messages), 0)
        messages.extend(more)
        if not more and (remaining <= 0 or stopping()):
            break
    return messages


class Writer:
    """The raw writer loop for a background thread (`percus serve`)."""

    def __init__(
        self,
        queue: Queue,
        store: Store,
        *,
        max_events: int = MAX_EVENTS,
        max_wait: float = 2.0,
        poll: float = 0.5,
        flush_timeout: float = 30.0,
        retry_delay: float = 1.0,
    ) -> None:
        self.queue = queue
        self.store = store
        self.max_events = max_events
        self.max_wait = max_wait
        self.poll = poll
        self.flush_timeout = flush_timeout
        self.retry_delay = retry_delay
        self.totals = BatchResult()  # replaced, never mutated: safe to read from another thread

    def drain(self, stop: threading.Event | None = None) -> BatchResult:
        result = drain_batch(self.queue, self.store, max_events=self.max_events, max_wait=self.max_wait,
                             poll=self.poll, stop=stop)
        self.totals += result
        return result

    def run(self, stop: threading.Event) -> BatchResult:
        """Drain until stop is set, then write what is already queued; returns the totals."""
        while not stop.is_set():
            if not self._drain_logged(stop):
                stop.wait(self.retry_delay)
        deadline = time.monotonic() + self.flush_timeout
        while time.monotonic() < deadline:
            result = self._drain_logged(stop)
            if result is None or not result.received:
                break
        return self.totals

    def _drain_logged(self, stop: threading.Event) -> BatchResult | None:
        """One batch; None when it failed (logged), so the loop keeps running."""
        try:
            return self.drain(stop)
        except QueueUnavailable as exc:
            log.warning("raw writer: queue unavailable: %s", exc)
        except Exception:
            log.exception("raw writer: batch failed")
        return None
