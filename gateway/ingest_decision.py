"""What a POST to the ingest endpoint (gateway/ingest.py) stores, and the answer it gets: its body
validated (events in their stored form natively into dicts, translator/stored_form.py; any other
body the models' way, which normalises or explains), each event checked for its time, gated by
consent, its value policy applied, and serialized once with the server's fields and the keyed viewer
id in front. Nothing the body says about a field the server owns, nor the client's own viewer hash,
reaches what is stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from typing import Annotated, Any, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import SchemaValidator, to_json

from gateway._request import MALFORMED_JSON, json_body
from gateway.bodies import MAX_BATCH_EVENTS, Batch
from gateway.consent import gate, gate_type
from gateway.enrichment import UA_MAX_CHARS, device_from_user_agent, geo_from_header, referrer_host
from gateway.errors import ApiError
from gateway.tokens import ShareToken
from pipeline.governance.value_policy import VALUE_FIELDS, ValuePolicy, apply_value_policy, stored_value
from pipeline.governance.viewer_keys import ViewerKeys
from translator.canonical import EVENT_MODELS, CanonicalEvent, Envelope, format_timestamp
from translator.event_parser import EventError, check_event_time, check_times, parse_event, v1_adapter
from translator.stored_form import stored_batch, stored_event


class _BatchBody(Batch):
    """Batch, also capturing a top-level event_type: a body valid both as a batch and as a single
    event is a single event, whichever of the two validations runs first."""

    event_type: Any = None


class _MixedBatch(BaseModel):
    """A batch validated event by event: each item a validated event, or the JSON value sent, which
    parse_event then explains. One call for a batch holding invalid events, instead of a parse and a
    validation per event."""

    model_config = ConfigDict(defer_build=True)  # built by _mixed, when first needed

    events: list[Annotated[CanonicalEvent | Any, Field(union_mode="left_to_right")]] = Field(
        min_length=1, max_length=MAX_BATCH_EVENTS)
    event_type: Any = None


# The core validators' own validate_json (TypeAdapter.validate_json adds Python to every call), each
# built on its first use: some 40 ms apiece, and a Lambda's first request needs one of the three (an
# app that takes events builds them at its start instead: warm_up).
@cache
def _event() -> Callable[[bytes], Envelope]:
    return v1_adapter().validator.validate_json


@cache
def _batch() -> Callable[[bytes], _BatchBody]:
    return TypeAdapter(_BatchBody).validator.validate_json


@cache
def _mixed() -> Callable[[bytes], _MixedBatch]:
    return TypeAdapter(_MixedBatch).validator.validate_json


@cache
def _stored_batch() -> SchemaValidator:
    """A batch of events in their stored form, into dicts."""
    return stored_batch(v1_adapter().core_schema, MAX_BATCH_EVENTS)


@cache
def _stored_event() -> SchemaValidator:
    """One event in its stored form, into a dict."""
    return stored_event(v1_adapter().core_schema)


def warm_up() -> None:
    """Builds, before the first request, the event models (each one's serializer writes its events:
    _stored), then the validators, which reuse the models' schemas: some 40 ms for the models' three,
    where each built alone from scratch would take twice that, and a few ms for the two of the stored
    form (derived from the same schema)."""
    for model in EVENT_MODELS.values():
        model.model_rebuild()
    for validator in (_event, _batch, _mixed, _stored_batch, _stored_event):
        validator()


ONE_ACCEPTED = b'{"accepted":1,"duplicates":0,"rejected":[]}'
ONE_DUPLICATE = b'{"accepted":0,"duplicates":1,"rejected":[]}'
# Fields never serialised from the event: the server's own, spliced in from the request's stamp, and
# viewer_hash, spliced in keyed. A set, not a frozenset: pydantic-core takes a set as it is but
# converts anything else on every call (1.5 µs of the 4 µs dump).
_REWRITTEN = {"organization_id", "project_id", "public_share_id", "distribution_channel_id",
              "received_at", "device", "geo", "referrer_host", "viewer_hash"}
_REWRITTEN_EACH = {"__all__": _REWRITTEN}  # of every item of a list
# Every event's first member, never left out: where the serialized list of a batch is cut.
_FIRST = b'{"event_id":'
_T = TypeVar("_T")


class Decision(NamedTuple):
    """What to store (perhaps nothing), and the answer to give once the queue has taken it."""

    bodies: list[bytes]
    organization: str
    event_ids: list[int]  # to remember as recent, once enqueued
    answer: bytes
    duplicates: int = 0
    rejected: tuple[str, ...] = ()  # the error codes of a batch's rejected events
    refusals: tuple[dict[str, Any], ...] = ()  # the batch's rejected events, as answered

    def recounted(self, late: int) -> bytes:
        """The answer once `late` of the events to store turned out to be duplicates when claimed."""
        return answer_body(len(self.bodies) - late, self.duplicates + late, list(self.refusals))


class Stamp(NamedTuple):
    """When the server received a request, as a time and as the JSON of its server fields, and the
    organization's value policy."""

    received_at: datetime
    json: bytes
    policy: ValuePolicy


class Decider:
    """Decides, without awaiting, so that the validated models are gone before the queue is awaited: a
    request waiting for the queue holds bytes and integers, which the garbage collector skips."""

    def __init__(self, viewer_keys: ViewerKeys) -> None:
        self._viewer_keys = viewer_keys

    def decide(self, body: bytes, organization: str, stamp: Stamp) -> Decision:
        # Happy paths: one event, or a batch of valid events, validated straight from the bytes. The
        # likelier shape goes first: a failed validation still parses the whole body.
        if b'"events"' in body:
            if (decision := self._stored_batch(body, organization, stamp)) is not None:
                return decision
        elif (decision := self._stored_single(body, organization, stamp)) is not None:
            return decision
        batch = _validated(_batch, body) if b'"events"' in body else None
        if batch is not None and batch.event_type is None:
            return self._batch(batch.events, organization, stamp)
        if batch is None and b'"events"' in body:  # a batch holding invalid events, say
            mixed = _validated(_mixed, body)
            if mixed is not None and "event_type" not in mixed.model_fields_set:  # as _decoded tells them
                return self._batch(mixed.events, organization, stamp)
        event = _validated(_event, body)
        if event is not None:
            return self._single(event, organization, stamp)
        if batch is None and b'"events"' not in body:
            batch = _validated(_batch, body)  # a key spelled with escapes, say
        if batch is None:
            return self._decoded(body, organization, stamp)
        return self._batch(batch.events, organization, stamp)

    def _decoded(self, body: bytes, organization: str, stamp: Stamp) -> Decision:
        """Batches, and single events the fast path refused: decode once, then explain precisely."""
        try:
            data = json_body(body)
        except ValueError:
            raise ApiError(400, "malformed_json", MALFORMED_JSON) from None
        if isinstance(data, dict) and "events" in data and "event_type" not in data:
            return self._batch(data["events"], organization, stamp)
        try:
            event = parse_event(data)
        except EventError as exc:
            raise ApiError(400, exc.code, exc.message, exc.field) from None
        return self._single(event, organization, stamp)

    def _single(self, event: Envelope, organization: str, stamp: Stamp) -> Decision:
        try:
            check_event_time(event, stamp.received_at)
            blank = gate(event)
        except EventError as exc:
            raise ApiError(400, exc.code, exc.message, exc.field) from None
        # Whether it is a duplicate is found out when its id is claimed (enqueue_new): one question
        # of the recent ids, which shared ones answer under a lock (wasted work for a duplicate only).
        event = apply_value_policy(event, stamp.policy, self._viewer_keys)
        stored = _stored(event, stamp.json, blank, self._viewer_keys, {})
        return Decision([stored], organization, [event.event_id.int], ONE_ACCEPTED)

    def _stored_batch(self, body: bytes, organization: str, stamp: Stamp) -> Decision | None:
        """The decision on a batch whose events all come in their stored form (translator/stored_form.py),
        as _batch would take it, without a model or a Python call per field; None for any other body.
        The common batch: an SDK writes its events so."""
        try:
            batch = _stored_batch().validate_json(body)
        except ValidationError:
            return None
        if batch["event_type"] is not None:  # a single event too: _decide's way
            return None
        now = format_timestamp(stamp.received_at)
        rejected: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        heads: list[bytes] = []  # of each kept event: the server's fields and the keyed viewer id
        viewers: dict[str | None, bytes] = {}  # a batch mostly comes from one viewer: keyed once
        ids: dict[int, None] = {}  # the batch's accepted event ids, in order
        duplicates = 0
        for index, event in enumerate(batch["events"]):
            try:
                event_id, head = self._prepared(event, now, stamp, viewers)
            except EventError as exc:
                rejected.append({"index": index, "event_id": event["event_id"], "error": exc.as_json()})
                continue
            if event_id in ids:
                duplicates += 1
                continue
            ids[event_id] = None
            kept.append(event)
            heads.append(head)
        bodies: list[bytes] = []
        if kept:  # one serialization for them all (plain JSON values: no schema), cut at each event's start
            events = to_json(kept, exclude=_REWRITTEN_EACH)[len(_FIRST) + 1 : -2].split(b"}," + _FIRST)
            bodies = [head + b"," + _FIRST[1:] + event + b"}"
                      for head, event in zip(heads, events, strict=True)]
        return _decision(organization, bodies, ids, duplicates, rejected)

    def _stored_single(self, body: bytes, organization: str, stamp: Stamp) -> Decision | None:
        """_single's decision on one event in its stored form, None for any other body."""
        try:
            event = _stored_event().validate_json(body)
        except ValidationError:
            return None
        try:
            event_id, head = self._prepared(event, format_timestamp(stamp.received_at), stamp, {})
        except EventError as exc:
            raise ApiError(400, exc.code, exc.message, exc.field) from None
        stored = head + b"," + to_json(event, exclude=_REWRITTEN)[1:]
        return Decision([stored], organization, [event_id], ONE_ACCEPTED)

    def _prepared(self, event: dict[str, Any], now: str, stamp: Stamp, viewers: dict[str | None, bytes]
                  ) -> tuple[int, bytes]:
        """An event in its stored form checked as _single checks a model (EventError), its value policy
        applied and the fields the consent gate blanks taken out: its id, and the start of its stored
        form (`now`: the time received, as stored; `viewers`: the request's keyed viewer ids)."""
        occurred, sent = event["occurred_at"], event["sent_at"]
        # An event that occurred before it was sent, sent before now, needs no arithmetic for its time:
        # stored-form times compare as text.
        if not (occurred <= sent <= now if sent is not None else occurred <= now):
            check_times(datetime.fromisoformat(occurred),
                        None if sent is None else datetime.fromisoformat(sent), stamp.received_at)
        consent = event["consent"]
        blank = gate_type(event["event_type"], consent is not None and consent["tracking"])
        if stamp.policy != "store" and (field := VALUE_FIELDS.get(event["event_type"])) is not None:
            payload = event["payload"]
            if payload[field] is not None:
                payload[field] = stored_value(payload[field], stamp.policy, self._viewer_keys)
        head = _head(stamp.json, None if "viewer_hash" in blank else event["viewer_hash"], self._viewer_keys,
                     viewers)
        if blank:
            head += _nulls(blank)
            for name in blank:
                del event[name]
        return int(event["event_id"].replace("-", ""), 16), head  # UUID(…).int

    def _batch(self, events: Any, organization: str, stamp: Stamp) -> Decision:
        if not isinstance(events, list):
            raise ApiError(400, "invalid_batch", "events must be a list of event objects", "events")
        if not events:
            raise ApiError(400, "empty_batch", "events must hold at least one event", "events")
        if len(events) > MAX_BATCH_EVENTS:
            message = f"a batch holds at most {MAX_BATCH_EVENTS} events, not {len(events)}"
            raise ApiError(413, "too_many_events", message, "events")
        valid: list[tuple[Envelope, dict[str, None]]] = []  # with the fields the consent gate blanks
        rejected: list[dict[str, Any]] = []
        for index, item in enumerate(events):
            try:
                event = item if isinstance(item, Envelope) else parse_event(item)
                check_event_time(event, stamp.received_at)
                valid.append((event, gate(event)))
            except EventError as exc:
                rejected.append({"index": index, "event_id": _sent_id(item), "error": exc.as_json()})
        # Ids sent before are found out when claimed (enqueue_new), as a single event's: one question
        # of the recent ids for the batch, not two (shared ones probe a table in Python for every id).
        bodies: list[bytes] = []
        ids: dict[int, None] = {}  # the batch's accepted event ids, in order
        duplicates = 0
        heads: dict[str | None, bytes] = {}  # a batch mostly comes from one viewer: keyed once
        for event, blank in valid:
            if event.event_id.int in ids:
                duplicates += 1
                continue
            ids[event.event_id.int] = None
            event = apply_value_policy(event, stamp.policy, self._viewer_keys)
            bodies.append(_stored(event, stamp.json, blank, self._viewer_keys, heads))
        return _decision(organization, bodies, ids, duplicates, rejected)


def _decision(organization: str, bodies: list[bytes], ids: dict[int, None], duplicates: int,
              rejected: list[dict[str, Any]]) -> Decision:
    codes = tuple(item["error"]["code"] for item in rejected) if rejected else ()
    return Decision(bodies, organization, list(ids), answer_body(len(bodies), duplicates, rejected),
                     duplicates, codes, tuple(rejected))


def answer_body(accepted: int, duplicates: int, rejected: list[dict[str, Any]]) -> bytes:
    return json.dumps({"accepted": accepted, "duplicates": duplicates, "rejected": rejected},
                      separators=(",", ":")).encode()


def _validated(validator: Callable[[], Callable[[bytes], _T]], body: bytes) -> _T | None:
    try:
        return validator()(body)
    except ValidationError:
        return None


def server_members(share: ShareToken, headers: dict[bytes, str]) -> bytes:
    """The JSON members of the fields the server owns but received_at."""
    # Cut to the parts that count before they key the cache, so a key stays small whatever a client
    # sends. The raw header values stay in memory: only the device class, OS and browser, the country
    # and the referrer's host are stored.
    return _server_fields(share.organization_id, share.project_id, share.public_share_id,
                          share.distribution_channel_id, headers.get(b"user-agent", "")[:UA_MAX_CHARS],
                          geo_from_header(headers.get(b"cloudfront-viewer-country")).country,
                          referrer_host(headers.get(b"referer")))


@lru_cache(maxsize=4096)  # a campaign's viewers share a token and a few browser builds: mostly a hit
def _server_fields(organization_id: str, project_id: str, public_share_id: str | None,
                   distribution_channel_id: str | None, user_agent: str, country: str | None,
                   referrer: str | None) -> bytes:
    device, geo = device_from_user_agent(user_agent), geo_from_header(country)
    return b"".join([
        b',"organization_id":', to_json(organization_id),
        b',"project_id":', to_json(project_id),
        b',"public_share_id":', to_json(public_share_id),
        b',"distribution_channel_id":', to_json(distribution_channel_id),
        b',"device":', device.__pydantic_serializer__.to_json(device),
        b',"geo":', geo.__pydantic_serializer__.to_json(geo),
        b',"referrer_host":', to_json(referrer),
    ])


def received_at() -> tuple[datetime, bytes]:
    """Now, and `{"received_at":"…"` for now in the stored form (format_timestamp's), built from the
    clock's integer nanoseconds."""
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    second, json_prefix = _received_second(seconds)
    millis = nanos // 1_000_000
    return second + _MILLISECONDS[millis], b'%s.%03dZ"' % (json_prefix, millis)


_MILLISECONDS = tuple(timedelta(milliseconds=millis) for millis in range(1000))  # made once, not per event


@lru_cache(maxsize=1)  # the date part is formatted once per second
def _received_second(seconds: int) -> tuple[datetime, bytes]:
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return datetime.fromtimestamp(seconds, UTC), b'{"received_at":"' + text.encode()


def _stored(event: Envelope, stamp: bytes, blank: dict[str, None], keys: ViewerKeys,
            heads: dict[str | None, bytes]) -> bytes:
    """The queued form: the server's fields, the keyed viewer id, then the validated event's own JSON
    without them. The event is serialised once, and nothing it said about a server-owned field, nor
    the client's own viewer hash, can reach the output. `heads`: the request's stamp and keyed viewer
    id per client viewer hash, so that a request keys each viewer once; it lives as long as the request."""
    head = _head(stamp, None if "viewer_hash" in blank else event.viewer_hash, keys, heads)
    serializer = event.__pydantic_serializer__
    if not blank:
        return head + b"," + serializer.to_json(event, exclude=_REWRITTEN)[1:]
    return head + _nulls(blank) + b"," + serializer.to_json(event, exclude=_REWRITTEN | blank.keys())[1:]


def _head(stamp: bytes, viewer: str | None, keys: ViewerKeys, heads: dict[str | None, bytes]) -> bytes:
    """The stored form's first members: the server's fields and the keyed viewer id (None: null)."""
    head = heads.get(viewer)
    if head is None:
        head = heads[viewer] = stamp + (b',"viewer_hash":"%s"' % keys.keyed(viewer).encode()
                                        if viewer is not None else b',"viewer_hash":null')
    return head


def _nulls(blank: dict[str, None]) -> bytes:
    """The members of the fields the consent gate blanks, but viewer_hash (in the head)."""
    return b"".join(b',"%s":null' % name.encode() for name in blank if name != "viewer_hash")


def _sent_id(item: Any) -> str | None:
    if isinstance(item, Envelope):  # valid, refused for its consent or its time
        return str(item.event_id)
    event_id = item.get("event_id") if isinstance(item, dict) else None
    return event_id if isinstance(event_id, str) and len(event_id) <= 64 else None
