"""The raw writer: drains the queue into one gzip NDJSON object per organization and hour.

At-least-once: a message is deleted only after the object holding it is written, so a crash in
between writes it again (the compactor drops duplicates by event_id) and never loses it. A batch's
key is derived from its event ids, so a redelivered identical batch overwrites its own object.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from operator import itemgetter
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
    bodies = [message.body for message in messages]
    # A body seen twice in one batch (a redelivery, or a sender's retry) is written once; all its
    # receipts are deleted with it.
    first = dict(zip(reversed(bodies), range(len(bodies) - 1, -1, -1), strict=True))  # body -> index
    repeats: dict[int, list[int]] = {}  # index of a first message -> indexes of the same body after it
    unique = list(range(len(bodies)))  # indexes of the bodies routed
    if len(first) < len(bodies):
        for index, body in enumerate(bodies):
            if first[body] != index:
                repeats.setdefault(first[body], []).append(index)
        unique = sorted(first.values())
        bodies = [bodies[index] for index in unique]
    partitions, lines, identities = _routes(bodies)
    groups: dict[tuple[str, datetime], list[int]] = {}  # partition -> positions in unique, in order
    poison: list[int] = []
    if partitions and isinstance(partitions[0], tuple) and partitions.count(partitions[0]) == len(partitions):
        groups[partitions[0]] = list(range(len(partitions)))  # the common batch: one object
    else:
        for position, partition in enumerate(partitions):
            if isinstance(partition, str):
                # The reason is our own text, never a piece of the body, which may be anything.
                log.error("raw writer: a %d-byte message (receive %d) can never be written: %s; it "
                          "stays queued until the dead-letter queue takes it", len(bodies[position]),
                          messages[unique[position]].receive_count, partition)
                poison.append(unique[position])
                continue
            members = groups.get(partition)
            if members is None:
                members = groups[partition] = []
            members.append(position)
    written: list[int] = []
    failed: list[int] = []
    keys = []
    events = 0
    for (org, hour), positions in groups.items():
        indexes = [unique[position] for position in positions]
        names = sorted([identities[position] for position in positions])
        key = raw_key(org, hour, str(uuid.uuid5(_BATCH_IDS, "\n".join(names))))
        try:
            store.put(key, rawfile.encode([lines[position] for position in positions]))
        except Exception as exc:  # whatever the store raised, these messages must stay queued
            log.warning("raw writer: cannot write %s (%d events); they stay queued: %s", key, len(indexes),
                        exc)
            failed.extend(indexes)
        else:
            written.extend(indexes)
            keys.append(key)
            events += len(indexes)

    def with_repeats(firsts: list[int]) -> list[Message]:
        indexes = firsts + [again for index in firsts for again in repeats.get(index, ())]
        return [messages[index] for index in indexes]

    return WriteOutcome(with_repeats(written), with_repeats(failed), with_repeats(poison), keys, events)


def _has_line_break(text: bytes) -> bool:
    # JSON allows them as whitespace, and an NDJSON line cannot hold one.
    return b"\n" in text or b"\r" in text


# A stored event's partition (organization, hour), or why it has none.
_Partition = tuple[str, datetime] | str


def _routes(bodies: list[bytes]) -> tuple[list[_Partition], list[bytes], list[str]]:
    """Each body's partition (or why it has none), NDJSON line and identity (what names it in its
    batch's key), in the order of the bodies."""
    # The common batch with as little Python per event as can be (a loop turn costs more than the
    # work): every step a builtin mapped over the batch. Its bodies are compact, the routing parser
    # takes them, and their received_at are in the wire form (format_timestamp's): then an
    # organization's second, once routed, routes its other events. Any other batch is routed event by
    # event, and so are the events of a second not routed yet.
    if bodies and not _has_line_break(b"".join(bodies)):  # one look at the batch spares each body its own
        try:
            with _collection_paused():  # KeyError: a body lacks one of the fields
                orgs, times, event_ids = zip(*map(_FIELDS, map(ROUTING_PARSER.validate_json, bodies)),
                                             strict=True)
            # A time that is not a string raises TypeError, in the slicing or the set's hashing.
            wire = all(map(_MILLIS.__contains__, map(_AFTER_SECOND, times)))
            # An organization that is not a string is never a key: not found, or TypeError.
            partitions: list[_Partition | None] = list(map(_PARTITIONS.get, zip(
                orgs, map(_TO_SECOND, times), strict=True)))
        except (ValidationError, KeyError, TypeError):
            pass
        else:
            if wire:
                identities = list(event_ids)
                if set(map(type, identities)) != {str}:
                    identities = list(map(_identity, event_ids, bodies))
                lines = bodies
                if None in partitions:  # the first events of a second
                    lines = list(bodies)
                    for position in [position for position, partition in enumerate(partitions)
                                     if partition is None]:
                        body = bodies[position]
                        partitions[position], lines[position], identities[position] = _route(
                            body, _routing_fields(body))
                return partitions, lines, identities  # type: ignore[return-value]  # no None left
    routes = [_route(body, _routing_fields(body)) for body in bodies]
    return [route[0] for route in routes], [route[1] for route in routes], [route[2] for route in routes]


@contextmanager
def _collection_paused() -> Iterator[None]:
    """No garbage collection inside. The batch's fields, a tuple per event held until all are read,
    would start one of the young generation every 700, each moving them on toward the old one, whose
    collections walk the whole heap (bench.writer: 36-43 young and 0-1 full collections per 20,000
    events, 0.7-1.6 us of CPU per event; paused, 18-19 and none, 0.4 us, as before the batch was
    routed at once). They hold no cycle: freed as soon as the batch is read, they leave nothing to
    collect."""
    if not gc.isenabled():  # paused by someone else, who resumes it
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _route(body: bytes, fields: dict[str, Any] | None) -> tuple[_Partition, bytes, str]:
    """(partition or why it has none, NDJSON line, identity) of a stored event, given what the routing
    parser read of it (None: a multi-line body, or one it refused)."""
    # The gateway enqueues compact JSON, written as it came; only a multi-line body is re-serialised.
    multi_line = fields is None and _has_line_break(body)
    try:
        event = fields if fields is not None else _decode(body)
        org = event.get("organization_id")
        received_at = event.get("received_at")
        if not isinstance(org, str) or not _is_slug(org):
            raise ValueError("organization_id is missing or not a valid identifier")
        if not isinstance(received_at, str):
            raise ValueError("received_at is missing")
        hour = _exact_hour(received_at)
    except ValueError as exc:
        return str(exc), body, ""
    if _WIRE_TIME.fullmatch(received_at):  # its second then routes this organization's other events
        if len(_PARTITIONS) >= 10_000:
            _PARTITIONS.clear()
        _PARTITIONS[org, received_at[:19]] = (org, hour)
    line = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() if multi_line else body
    return (org, hour), line, _identity(event.get("event_id"), body)


def _identity(event_id: object, body: bytes) -> str:
    """What names an event in its batch's key: its id, or for a body without one, its digest."""
    return event_id if isinstance(event_id, str) else hashlib.sha256(body).hexdigest()


# The three fields routing reads, from a JSON object. pydantic-core checks the whole body's syntax but
# builds Python objects for these three only: a quarter of json.loads' time. Its parser (jiter) refuses
# everything json.loads refuses, and more (a byte-order mark, UTF-16, lone surrogates, deep nesting),
# and a repeated key keeps its last value as in json.loads; so json.loads decides only what it refuses.
# Public for bench.writer, which measures it alone.
_ROUTED_FIELDS = ("organization_id", "received_at", "event_id")
ROUTING_PARSER = SchemaValidator(core_schema.typed_dict_schema(
    {name: core_schema.typed_dict_field(core_schema.any_schema(), required=False) for name in _ROUTED_FIELDS},
    extra_behavior="ignore",
))
_FIELDS = itemgetter(*_ROUTED_FIELDS)


def _routing_fields(body: bytes) -> dict[str, Any] | None:
    if _has_line_break(body):
        return None
    try:
        fields: dict[str, Any] = ROUTING_PARSER.validate_json(body)  # a typed_dict_schema validates to a dict
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


# (organization, "YYYY-MM-DDTHH:MM:SS" of a time in the wire form, format_timestamp's) -> the partition of
# its events, for an organization found valid: a second, once resolved, needs no pattern nor parse for
# its other events (the milliseconds of a UTC time cannot move it to another hour), nor its organization
# another check. What may follow the second in that form:
_PARTITIONS: dict[tuple[str, str], tuple[str, datetime]] = {}
_MILLIS = frozenset(f".{millis:03d}Z" for millis in range(1000))
_TO_SECOND, _AFTER_SECOND = itemgetter(slice(None, 19)), itemgetter(slice(19, None))
_WIRE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:[0-5]\d:[0-5]\d\.\d{3}Z")


def _exact_hour(received_at: str) -> datetime:
    try:
        received = datetime.fromisoformat(received_at)
    except ValueError:
        raise ValueError("received_at is not an ISO-8601 time") from None
    if received.tzinfo is None:
        raise ValueError("received_at has no UTC offset")
    return received.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


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
