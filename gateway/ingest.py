"""POST /analytics/v1/events: canonical events from the browser SDK and native clients, into the queue.

An event is answered as accepted only after the queue acknowledged it. Everything the server owns
(organization, project, share and channel ids, received_at, device, geo, referrer_host) is set here
and overwrites whatever the body said; what is stored of the body: gateway/ingest_decision.py.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from gateway import ingest_decision
from gateway._request import ClientDisconnected, read_body, share_token_from
from gateway.enqueuer import enqueue_new
from gateway.errors import ApiError, RawResponse, error_doc, raw_error, send_raw
from gateway.ingest_decision import ONE_ACCEPTED, ONE_DUPLICATE, Decider, Stamp, received_at, server_members
from gateway.services import Services
from gateway.tokens import TokenError

PATH = "/analytics/v1/events"
INGEST_PATHS = (PATH,)  # a request refused before it reaches the route is counted as a rejection too
MEDIA_TYPES = ("application/json", "text/plain")  # text/plain: a browser sends it without a preflight


# The only request headers read; the rest (cookies, X-Forwarded-For…) are never even decoded.
HEADERS = frozenset({b"authorization", b"origin", b"content-type", b"user-agent", b"referer",
                      b"cloudfront-viewer-country"})
_JSON = (b"content-type", b"application/json")
# The two common answers, headers and all, built once.
_ANSWERED = {body: [_JSON, (b"content-length", str(len(body)).encode())]
             for body in (ONE_ACCEPTED, ONE_DUPLICATE)}


class Ingest:
    """The endpoint as a plain ASGI app: this is the hot path, so it reads the scope directly; a
    Responder (gateway/middleware/hot_path.py), which the app calls without its middleware chain."""

    HEADERS = HEADERS

    def __init__(self, services: Services) -> None:
        self._tokens = services.tokens
        self._enqueuer = services.require_enqueuer()
        self._recent = services.recent_ids
        self._decider = Decider(services.viewer_keys)
        self._policies = services.value_policies
        self._metrics = services.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Through the app's router: a request the hot path (gateway/middleware/hot_path.py) left to it."""
        headers = {name: value.decode("latin-1") for name, value in scope["headers"] if name in HEADERS}
        response = await self.respond(scope, receive, headers)
        if response is not None:
            await send_raw(send, response)

    async def respond(self, scope: Scope, receive: Receive, headers: dict[bytes, str]) -> RawResponse | None:
        """The answer (None: the client left), given the request's HEADERS."""
        try:
            body = await self._answer(scope, receive, headers)
        except ApiError as error:
            if self._metrics is not None:
                self._metrics.rejected(error.code)
            # Not via the app's handler: that costs a refusal +15 % server CPU (wrk, 401: 44 → 51 µs).
            return raw_error(error)
        except ClientDisconnected:
            return None
        return 202, _ANSWERED.get(body) or [_JSON, (b"content-length", str(len(body)).encode())], body

    async def _answer(self, scope: Scope, receive: Receive, headers: dict[bytes, str]) -> bytes:
        """The 202 answer's body once the queue took the events; ApiError for the whole request."""
        token = share_token_from(headers.get(b"authorization"), scope["query_string"])
        try:
            share = self._tokens.verify(token)
        except TokenError as exc:
            raise ApiError(401, exc.code, exc.message) from None
        if not share.allows_origin(headers.get(b"origin")):
            raise ApiError(403, "origin_not_allowed", "this share token may not be used here")
        media_type = headers.get(b"content-type", "").partition(";")[0].strip().lower()
        if media_type not in MEDIA_TYPES:
            raise ApiError(415, "unsupported_media_type", "send the body as application/json or text/plain",
                           "content-type")
        body = await read_body(receive)
        received, received_json = received_at()
        stamp = received_json + server_members(share, headers)
        policy = await self._policies.of(share.organization_id)
        decision = self._decider.decide(body, share.organization_id, Stamp(received, stamp, policy))
        late = 0  # duplicates only found out when their ids were claimed
        if decision.bodies:  # else nothing to store: duplicates, or a batch's events all rejected
            late = await enqueue_new(self._enqueuer, self._recent, decision.organization, decision.event_ids,
                                     decision.bodies)
        if self._metrics is not None:
            self._metrics.answered(len(decision.bodies) - late, decision.duplicates + late, decision.rejected)
        return decision.recounted(late) if late else decision.answer


def routes(services: Services) -> list[BaseRoute]:
    return [Route(PATH, Ingest(services), methods=["POST"])]


warm_up = ingest_decision.warm_up  # assemble() warms up the route modules that have one


def _json_content(schema: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


TAG = "ingest"
PATHS: dict[str, Any] = {
    PATH: {
        "post": {
            "operationId": "send_events",
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
                "400": error_doc("Malformed JSON, wrong shape, or a single event that is invalid or lacks "
                                 "consent (invalid_field, unknown_event_type, unsupported_schema_version, "
                                 "consent_required…)."),
                "401": error_doc("Missing, malformed, forged, unknown-key or expired share token."),
                "403": error_doc("The share token does not allow the request's Origin."),
                "413": error_doc("Body over 512 KB (body_too_large) or over 500 events (too_many_events)."),
                "415": error_doc("Content type other than application/json or text/plain."),
                "429": error_doc("Rate limited; retry after the Retry-After header's seconds."),
                "503": error_doc("The queue is unavailable; retry after the Retry-After header's seconds."),
            },
        }
    }
}
