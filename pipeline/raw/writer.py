"""The raw writer: drains the queue into one gzip NDJSON object per organization and hour.

At-least-once: a message is deleted only after the object holding it is written, so a crash in
between writes it again (the compactor drops duplicates by event_id) and never loses it. A batch's
key is derived from its event ids, so a redelivered identical batch overwrites its own object.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic_core import SchemaValidator, ValidationError, core_schema

from pipeline.layout import raw_key
from pipeline.queue.base import Message, Queue, QueueUnavailable
from pipeline.raw import rawfile
from pipeline.store.base import Store
from translator.ids import check_slug

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
    # Messages are referred to by their index: the garbage collector stops tracking tuples of plain
    # values, where per-message tuples holding Messages were promoted to its old generation and made
    # its full collections (tens of ms with a gateway's heap, GIL held) more frequent.
    groups: dict[tuple[str, datetime], _Group] = {}
    poison: list[int] = []
    first: dict[bytes, int] = {}  # body -> index of its first message
    repeats: dict[int, list[int]] = {}  # index of a first message -> indexes of the same body after it
    bodies = [message.body for message in messages]
    line_breaks = _has_line_break(b"".join(bodies))  # one look at the batch spares each body its own
    for index, body in enumerate(bodies):
        # A body seen twice in one batch (a redelivery, or a sender's retry) is written once; all
        # its receipts are deleted with it.
        seen = first.setdefault(body, index)
        if seen != index:
            repeats.setdefault(seen, []).append(index)
            continue
        try:
            partition, line, identity = _route(body, line_breaks and _has_line_break(body))
        except ValueError as exc:
            # The reason is our own text, never a piece of the body, which may be anything.
            log.error("raw writer: a %d-byte message (receive %d) can never be written: %s; it stays "
                      "queued until the dead-letter queue takes it", len(body), messages[index].receive_count,
                      exc)
            poison.append(index)
            continue
        group = groups.get(partition)
        if group is None:
            group = groups[partition] = ([], [], [])
        group[0].append(index)
        group[1].append(line)
        group[2].append(identity)
    written: list[int] = []
    failed: list[int] = []
    keys = []
    lines = 0
    for (org, hour), (indexes, group_lines, identities) in groups.items():
        identities.sort()
        key = raw_key(org, hour, str(uuid.uuid5(_BATCH_IDS, "\n".join(identities))))
        try:
            store.put(key, rawfile.encode(group_lines))
        except Exception as exc:  # whatever the store raised, these messages must stay queued
            log.warning("raw writer: cannot write %s (%d events); they stay queued: %s", key, len(indexes),
                        exc)
            failed.extend(indexes)
        else:
            written.extend(indexes)
            keys.append(key)
            lines += len(indexes)

    def with_repeats(firsts: list[int]) -> list[Message]:
        indexes = firsts + [repeat for index in firsts for repeat in repeats.get(index, ())]
        return [messages[index] for index in indexes]

    return WriteOutcome(with_repeats(written), with_repeats(failed), with_repeats(poison), keys, lines)


def _has_line_break(text: bytes) -> bool:
    # JSON allows them as whitespace, and an NDJSON line cannot hold one.
    return b"\n" in text or b"\r" in text


# One object's events in a batch, in delivery order: their messages' indexes, NDJSON lines, identities.
_Group = tuple[list[int], list[bytes], list[str]]


def _route(body: bytes, multi_line: bool) -> tuple[tuple[str, datetime], bytes, str]:
    """((organization, hour), NDJSON line, identity) of a stored event; ValueError when it has none."""
    # The gateway enqueues compact JSON, written as it came; only a multi-line body is re-serialised.
    event = None if multi_line else _routing_fields(body)
    if event is None:
        event = _decode(body)
    org = event.get("organization_id")
    received_at = event.get("received_at")
    if not isinstance(org, str) or (org not in _SLUGS and not _is_slug(org)):
        raise ValueError("organization_id is missing or not a valid identifier")
    if not isinstance(received_at, str):
        raise ValueError("received_at is missing")
    event_id = event.get("event_id")
    identity = event_id if isinstance(event_id, str) else hashlib.sha256(body).hexdigest()
    line = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() if multi_line else body
    return (org, _hour(received_at)), line, identity


# The three fields routing reads, from a JSON object. pydantic-core checks the whole body's syntax but
# builds Python objects for these three only: a quarter of json.loads' time. Its parser (jiter) refuses
# everything json.loads refuses, and more (a byte-order mark, UTF-16, lone surrogates, deep nesting),
# and a repeated key keeps its last value as in json.loads; so json.loads decides only what it refuses.
_ROUTING = SchemaValidator(core_schema.typed_dict_schema(
    {name: core_schema.typed_dict_field(core_schema.any_schema(), required=False)
     for name in ("organization_id", "received_at", "event_id")},
    extra_behavior="ignore",
))


def _routing_fields(body: bytes) -> dict[str, Any] | None:
    try:
        fields: dict[str, Any] = _ROUTING.validate_json(body)  # a typed_dict_schema validates to a dict
    except ValidationError:
        return None
    return fields


def _decode(body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the interpreter's stack
        raise ValueError("not JSON") from None
    if not isinstance(event, dict):
        raise ValueError("not a JSON object")
    return event


# "YYYY-MM-DDTHH:MM:SS" of a time in the wire form (format_timestamp's) -> its hour, and what may
# follow it in that form. A second, once resolved, needs no pattern nor parse for its other events:
# the milliseconds of a UTC time cannot move it to another hour.
_SECONDS: dict[str, datetime] = {}
_MILLIS = frozenset(f".{millis:03d}Z" for millis in range(1000))
_WIRE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:[0-5]\d:[0-5]\d\.\d{3}Z")


def _hour(received_at: str) -> datetime:
    """The UTC hour of received_at."""
    second = received_at[:19]
    hour = _SECONDS.get(second)
    if hour is not None and received_at[19:] in _MILLIS:
        return hour
    hour = _exact_hour(received_at)
    if _WIRE_TIME.fullmatch(received_at):
        if len(_SECONDS) >= 10_000:
            _SECONDS.clear()
        _SECONDS[second] = hour
    return hour


def _exact_hour(received_at: str) -> datetime:
    try:
        received = datetime.fromisoformat(received_at)
    except ValueError:
        raise ValueError("received_at is not an ISO-8601 time") from None
    if received.tzinfo is None:
        raise ValueError("received_at has no UTC offset")
    return received.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


_SLUGS: set[str] = set()  # organizations already found valid: a handful make all traffic


def _is_slug(value: str) -> bool:
    if value in _SLUGS:
        return True
    try:
        check_slug(value)
    except ValueError:
        return False
    if len(_SLUGS) >= 10_000:
        _SLUGS.clear()
    _SLUGS.add(value)
    return True


def drain_batch(
    queue: Queue,
    store: Store,
    *,
    max_events: int = MAX_EVENTS,
    max_wait: float = 2.0,
    poll: float = 0.5,
    stop: threading.Event | None = None,
    release_delay: float = 5.0,
) -> BatchResult:
    """Receive one batch, write it, delete what was written; what the store refused is released to
    come back after `release_delay` seconds.

    Waits up to max_wait for a first message; the batch then closes at max_events or max_wait after
    that first message. Once stop is set, it takes only what is already queued.
    """
    messages = _receive_batch(queue, max_events, max_wait, poll, stop)
    if not messages:
        return BatchResult()
    outcome = write_messages(store, messages)
    if outcome.failed:  # the store's fault, not the messages': they must not drift to the dead letters
        try:
            queue.release([message.receipt for message in outcome.failed], release_delay)
        except QueueUnavailable as exc:
            log.warning("raw writer: cannot release unwritten events; they come back later: %s", exc)
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
        # Closed at the deadline even while events keep coming in (SQS hands them out ten at a time):
        # a batch held open for as long as they flow could outlast the visibility timeout of its
        # first messages. Once stopping, it takes what is queued.
        if (remaining <= 0 and not stopping()) or (not more and stopping()):
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
        on_written: Callable[[], None] | None = None,
    ) -> None:
        self.queue = queue
        self.on_written = on_written  # called after a batch that wrote raw objects
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
        if result.objects_written and self.on_written is not None:
            self.on_written()
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
