"""POST /analytics/v1/events: canonical events from the browser SDK and native clients, into the queue.

An event is answered as accepted only after the queue acknowledged it. Everything the server owns
(organization, project, share and channel ids, received_at, device, geo, referrer_host) is set here
and overwrites whatever the body said.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter, ValidationError
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from gateway._request import ClientDisconnected, read_body, share_token_from
from gateway.bodies import MAX_BATCH_EVENTS, Batch
from gateway.consent import gate
from gateway.enqueuer import RETRY_AFTER_SECONDS
from gateway.enrichment import device_from_user_agent, geo_from_header, referrer_host
from gateway.errors import error_body
from gateway.services import Services
from gateway.tokens import ShareToken, TokenError
from pipeline.queue.base import QueueUnavailable
from translator.canonical import CanonicalEvent, Envelope
from translator.versions import EventError, parse_event

PATH = "/analytics/v1/events"
MEDIA_TYPES = ("application/json", "text/plain")  # text/plain: a browser sends it without a preflight

_EVENT: TypeAdapter[Envelope] = TypeAdapter(CanonicalEvent)
_BATCH = TypeAdapter(Batch)
_ONE_ACCEPTED = b'{"accepted":1,"duplicates":0,"rejected":[]}'
_ONE_DUPLICATE = b'{"accepted":0,"duplicates":1,"rejected":[]}'
_Answer = tuple[int, bytes, Sequence[tuple[bytes, bytes]]]  # status, JSON body, extra headers
# The only request headers read; the rest (cookies, X-Forwarded-For…) are never even decoded.
_HEADERS = frozenset({b"authorization", b"origin", b"content-type", b"user-agent", b"referer",
                      b"cloudfront-viewer-country"})
_JSON = [(b"content-type", b"application/json")]


class Ingest:
    """The endpoint as a plain ASGI app: this is the hot path, so it reads the scope directly."""

    def __init__(self, services: Services) -> None:
        self._tokens = services.tokens
        self._enqueuer = services.enqueuer
        self._recent = services.recent_ids

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, body, headers = await self._answer(scope, receive)
        except ClientDisconnected:
            return
        await send({"type": "http.response.start", "status": status,
                    "headers": [*_JSON, (b"content-length", str(len(body)).encode()), *headers]})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope, receive: Receive) -> _Answer:
        headers = {name: value.decode("latin-1") for name, value in scope["headers"] if name in _HEADERS}
        token = share_token_from(headers.get(b"authorization"), scope["query_string"])
        try:
            share = self._tokens.verify(token)
        except TokenError as exc:
            return _error(401, exc.code, exc.message, headers=[(b"www-authenticate", b"Bearer")])
        if not share.allows_origin(headers.get(b"origin")):
            return _error(403, "origin_not_allowed", "this share token may not be used here")
        media_type = headers.get(b"content-type", "").partition(";")[0].strip().lower()
        if media_type not in MEDIA_TYPES:
            return _error(415, "unsupported_media_type", "send the body as application/json or text/plain",
                          "content-type")
        body = await read_body(receive)
        stamp = _server_fields(share, headers)
        # Happy paths: one event, or a batch of valid events, validated straight from the bytes.
        try:
            event = _EVENT.validate_json(body)
        except ValidationError:
            pass
        else:
            return await self._single(event, share, stamp)
        try:
            batch = _BATCH.validate_json(body)
        except ValidationError:
            return await self._decoded(body, share, stamp)
        return await self._batch(batch.events, share, stamp)

    async def _decoded(self, body: bytes, share: ShareToken, stamp: dict[str, Any]) -> _Answer:
        """Batches, and single events the fast path refused: decode once, then explain precisely."""
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            return _error(400, "malformed_json", "the body is not valid JSON")
        if isinstance(data, dict) and "events" in data and "event_type" not in data:
            return await self._batch(data["events"], share, stamp)
        try:
            event = parse_event(data)
        except EventError as exc:
            return _error(400, exc.code, exc.message, exc.field)
        return await self._single(event, share, stamp)

    async def _single(self, event: Envelope, share: ShareToken, stamp: dict[str, Any]) -> _Answer:
        try:
            blank = gate(event)
        except EventError as exc:
            return _error(400, exc.code, exc.message, exc.field)
        if (share.organization_id, event.event_id) in self._recent:
            return 202, _ONE_DUPLICATE, ()
        try:
            await self._enqueuer.send([_stored(event, stamp, blank)])
        except QueueUnavailable:
            return _queue_unavailable()
        self._recent.add(share.organization_id, (event.event_id,))
        return 202, _ONE_ACCEPTED, ()

    async def _batch(self, events: Any, share: ShareToken, stamp: dict[str, Any]) -> _Answer:
        if not isinstance(events, list):
            return _error(400, "invalid_batch", "events must be a list of event objects", "events")
        if not events:
            return _error(400, "empty_batch", "events must hold at least one event", "events")
        if len(events) > MAX_BATCH_EVENTS:
            message = f"a batch holds at most {MAX_BATCH_EVENTS} events, not {len(events)}"
            return _error(413, "too_many_events", message, "events")
        organization = share.organization_id
        bodies: list[bytes] = []
        ids: set[UUID] = set()
        rejected: list[dict[str, Any]] = []
        duplicates = 0
        for index, item in enumerate(events):
            try:
                event = item if isinstance(item, Envelope) else parse_event(item)
                blank = gate(event)
            except EventError as exc:
                rejected.append({"index": index, "event_id": _sent_id(item), "error": exc.as_json()})
                continue
            if event.event_id in ids or (organization, event.event_id) in self._recent:
                duplicates += 1
                continue
            ids.add(event.event_id)
            bodies.append(_stored(event, stamp, blank))
        if bodies:
            try:
                await self._enqueuer.send(bodies)
            except QueueUnavailable:
                return _queue_unavailable()
            self._recent.add(organization, ids)
        result = {"accepted": len(bodies), "duplicates": duplicates, "rejected": rejected}
        return 202, json.dumps(result, separators=(",", ":")).encode(), ()


def routes(services: Services) -> list[BaseRoute]:
    return [Route(PATH, Ingest(services), methods=["POST"])]


def _server_fields(share: ShareToken, headers: dict[bytes, str]) -> dict[str, Any]:
    """The fields the server owns, read from the token and headers. The raw values stay here."""
    return {
        "organization_id": share.organization_id,
        "project_id": share.project_id,
        "public_share_id": share.public_share_id,
        "distribution_channel_id": share.distribution_channel_id,
        "received_at": datetime.now(UTC),
        "device": device_from_user_agent(headers.get(b"user-agent", "")),
        "geo": geo_from_header(headers.get(b"cloudfront-viewer-country")),
        "referrer_host": referrer_host(headers.get(b"referer")),
    }


def _stored(event: Envelope, stamp: dict[str, Any], blank: dict[str, None]) -> bytes:
    """The queued form: the validated event with the server's fields, as JSON."""
    return event.model_copy(update={**stamp, **blank} if blank else stamp).model_dump_json().encode()


def _sent_id(item: Any) -> str | None:
    event_id = item.get("event_id") if isinstance(item, dict) else None
    return event_id if isinstance(event_id, str) and len(event_id) <= 64 else None


def _error(status: int, code: str, message: str, field: str | None = None,
           headers: Sequence[tuple[bytes, bytes]] = ()) -> _Answer:
    return status, error_body(code, message, field), headers


def _queue_unavailable() -> _Answer:
    return _error(503, "queue_unavailable", "events cannot be stored right now; retry later",
                  headers=[(b"retry-after", str(RETRY_AFTER_SECONDS).encode())])


def _json_content(schema: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _refusal(description: str) -> dict[str, Any]:
    return {"description": description, **_json_content("ErrorBody")}


PATHS: dict[str, Any] = {
    PATH: {
        "post": {
            "summary": "Send one canonical event or a batch of up to 500",
            "description": "Authenticate with a share token in `Authorization: Bearer …` or `?token=…`. "
                           "Organization, project, share and channel ids come from the token; received_at, "
                           "device, geo and referrer_host are set by the server. See docs/api.md.",
            "parameters": [{"name": "token", "in": "query", "required": False, "schema": {"type": "string"},
                            "description": "Share token, when no Authorization header can be sent."}],
            "security": [{"shareToken": []}, {}],
            "requestBody": {
                "required": True,
                "content": {
                    media: {"schema": {"oneOf": [{"$ref": "#/components/schemas/CanonicalEvent"},
                                                 {"$ref": "#/components/schemas/Batch"}]}}
                    for media in MEDIA_TYPES
                },
            },
            "responses": {
                "202": {"description": "Every valid event is durably enqueued; invalid ones of a batch are "
                                       "listed in rejected.", **_json_content("IngestResult")},
                "400": _refusal("Malformed JSON, wrong shape, or a single event that is invalid or lacks "
                              "consent (invalid_field, unknown_event_type, unsupported_schema_version, "
                              "consent_required…)."),
                "401": _refusal("Missing, malformed, forged, unknown-key or expired share token."),
                "403": _refusal("The share token does not allow the request's Origin."),
                "413": _refusal("Body over 512 KB (body_too_large) or over 500 events (too_many_events)."),
                "415": _refusal("Content type other than application/json or text/plain."),
                "429": _refusal("Rate limited; retry after the Retry-After header's seconds."),
                "503": _refusal("The queue is unavailable; retry after the Retry-After header's seconds."),
            },
        }
    }
}
