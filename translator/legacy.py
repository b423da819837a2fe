"""Translate one legacy Individeo `indiTrack` post into canonical events. Pure: no I/O.

`read_post` checks a post and finds its group key (LegacyError: 400); the gateway binds the key to an
organization (none: 403); `translate` makes the events, with ids that let Individeo's retries
deduplicate. The choices where Individeo's format is silent: docs/migration-from-individeo.md
(Legacy tracking URLs and the indiTrack endpoint).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from translator.canonical import ID_MAX_CHARS, NAME_MAX_CHARS, SCHEMA_VERSION, Envelope, Locale
from translator.event_parser import EventError, parse_event
from translator.ids import check_slug
from translator.individeo_wire import CONTEXT_FIELDS, WIRE_EVENT_NAMES, WireEvent, wire_event

# Fixed forever: stored session and event ids are derived under these.
SESSION_NAMESPACE = uuid.UUID("26f67c20-60c6-57a4-bfb9-246f460742eb")
EVENT_NAMESPACE = uuid.UUID("212c439e-91de-5275-a320-b64a017e1f59")
LEGACY_PROJECT_ID = "legacy"
RETRY_WINDOW_SECONDS = 10
KEY_MAX_CHARS = ID_MAX_CHARS
_ALLOWED = ", ".join(WIRE_EVENT_NAMES)
_LOCALE: TypeAdapter[str] = TypeAdapter(Locale)
_CONTEXT = {context.canonical: context.legacy for context in CONTEXT_FIELDS}


class LegacyError(EventError):
    """Why a legacy post was refused (400): a stable code, a sentence and the offending field."""


@dataclass(frozen=True)
class LegacyPost:
    """A post whose shape is valid, before its group key is bound to an organization."""

    event: WireEvent
    tracker_group_key: str
    body: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class LegacyResult:
    evt: str  # the whitelist's spelling
    events: tuple[Envelope, ...]  # validated canonical events; empty for an audited-only post
    warnings: tuple[str, ...] = ()
    retry_of: tuple[uuid.UUID, ...] = ()  # per event: its id had the post arrived one window earlier

    @property
    def audited(self) -> bool:
        """Accepted and audited, not an engagement event (onLog, onGATracking, onTrackerKeyDefined)."""
        return not self.events


def _quote(text: str) -> str:
    """Client text in an error message: bounded, and encodable even with a lone surrogate."""
    return json.dumps(text if len(text) <= 40 else text[:40] + "…")


def _text(body: Mapping[str, Any], name: str, *, max_chars: int, truncate: bool) -> str | None:
    """A scalar body field as trimmed text; None when absent, null or blank."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, bool | int | float):
        try:
            text = json.dumps(value)
        except ValueError:  # an integer beyond Python's digit limit
            raise LegacyError("invalid_field", f"{name} is too long", name) from None
    else:
        raise LegacyError("invalid_field", f"{name} must be a string, a number or a boolean", name)
    if not text:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise LegacyError("invalid_field", f"{name} is not valid Unicode text", name) from None
    if len(text) <= max_chars:
        return text
    if truncate:
        return text[:max_chars]
    raise LegacyError("invalid_field", f"{name} is longer than {max_chars} characters", name)


def _event(evt: str | None, body: Mapping[str, Any]) -> WireEvent:
    named = body.get("event")
    if named is not None and not isinstance(named, str):
        raise LegacyError("invalid_field", "event must be a string naming the wire event", "event")
    query, stated = (evt or "").strip(), (named or "").strip()
    if not query and not stated:
        raise LegacyError("missing_evt", f"name the event with ?evt=TYPE or the body's event field; "
                                         f"allowed: {_ALLOWED}", "evt")
    if query and stated and query.lower() != stated.lower():
        raise LegacyError("evt_mismatch", f"?evt={_quote(query)} and the body's event {_quote(stated)} "
                                          "disagree; send one, or the same in both", "event")
    found = wire_event(query or stated)
    if found is None:
        raise LegacyError("unknown_evt", f"{_quote(query or stated)} is not an Individeo wire event; "
                                         f"allowed: {_ALLOWED}", "evt" if query else "event")
    return found


def read_post(evt: str | None, body: Any) -> LegacyPost:
    """Check a decoded post's shape and find its group key, or raise LegacyError."""
    if not isinstance(body, dict):
        raise LegacyError("invalid_body", "the indiTrack body must be a JSON object")
    event = _event(evt, body)
    group_key = _text(body, "trackerGroupKey", max_chars=KEY_MAX_CHARS, truncate=False)
    if group_key is None:
        raise LegacyError("missing_field", "trackerGroupKey is required: it names the organization",
                          "trackerGroupKey")
    return LegacyPost(event, group_key, body)


def session_id_for(organization_id: str, tracker_key: str) -> uuid.UUID:
    return uuid.uuid5(SESSION_NAMESPACE, f"{organization_id}\n{tracker_key}")


def _optional(body: Mapping[str, Any], name: str, max_chars: int, warnings: list[str]) -> str | None:
    """An optional context field: a bad one is dropped with a warning, the event is kept."""
    try:
        return _text(body, name, max_chars=max_chars, truncate=False)
    except LegacyError as exc:
        warnings.append(f"{exc.message}; dropped")
        return None


def _context(body: Mapping[str, Any], default_project_id: str, warnings: list[str]) -> dict[str, str]:
    """Envelope fields a post may carry besides its event's own."""
    context = {"project_id": default_project_id}
    project = _optional(body, _CONTEXT["project_id"], KEY_MAX_CHARS, warnings)
    if project is not None:
        try:
            context["project_id"] = check_slug(project)
        except ValueError:
            warnings.append(f"{_CONTEXT['project_id']} is not a valid project id; "
                            f"used {default_project_id!r}")
    for canonical in ("template_id", "template_version"):
        text = _optional(body, _CONTEXT[canonical], ID_MAX_CHARS, warnings)
        if text is not None:
            context[canonical] = text
    lang = _optional(body, _CONTEXT["locale"], 35, warnings)
    if lang is not None:
        try:
            context["locale"] = _LOCALE.validate_python(lang)
        except ValidationError:
            warnings.append(f"{_CONTEXT['locale']} is not a language tag such as es-CL; dropped")
    return context


def _event_id(organization_id: str, tracker_key: str, evt: str, window: int,
              content: Mapping[str, Any]) -> uuid.UUID:
    name = json.dumps([organization_id, tracker_key, evt, window, content], sort_keys=True,
                      ensure_ascii=False, separators=(",", ":"))
    return uuid.uuid5(EVENT_NAMESPACE, name)


def translate(post: LegacyPost, *, organization_id: str, received_at: datetime,
              default_project_id: str = LEGACY_PROJECT_ID) -> LegacyResult:
    """The canonical events of one legacy post, for the organization its group key is bound to."""
    if received_at.tzinfo is None:
        raise ValueError("received_at needs a UTC offset")
    event, body = post.event, post.body
    if event.event_type is None:
        return LegacyResult(event.name, ())
    key_field = _CONTEXT["session_id"]
    tracker_key = _text(body, key_field, max_chars=KEY_MAX_CHARS, truncate=False)
    if tracker_key is None:
        raise LegacyError("missing_field", f"{key_field} is required for {event.name}", key_field)
    warnings: list[str] = []
    context = _context(body, default_project_id, warnings)
    payload: dict[str, str] = {}
    if event.identity is not None:
        legacy, id_field = event.identity
        identity = _text(body, legacy, max_chars=NAME_MAX_CHARS, truncate=True)
        if identity is None:
            raise LegacyError("missing_field", f"{legacy} is required for {event.name}", legacy)
        payload[id_field] = identity
    for legacy, canonical in event.fields:
        text = _text(body, legacy, max_chars=NAME_MAX_CHARS, truncate=True)
        if text is not None:
            payload[canonical] = text
    read = {c.legacy for c in CONTEXT_FIELDS} | {legacy for legacy, _ in event.fields}
    if unread := sum(1 for key in body if key not in read):
        warnings.append(f"{unread} body field(s) not in the {event.name} whitelist were dropped")
    consent: dict[str, Any] = {"tracking": event.consent_tracking}
    if event.event_type == "consent.accepted":
        consent["granted_at"] = received_at
    content = {**context, **payload}
    window = int(received_at.timestamp() // RETRY_WINDOW_SECONDS)
    data = {
        "event_id": str(_event_id(organization_id, tracker_key, event.name, window, content)),
        "schema_version": SCHEMA_VERSION,
        "event_type": event.event_type,
        "occurred_at": received_at,
        "received_at": received_at,
        "organization_id": organization_id,
        "session_id": str(session_id_for(organization_id, tracker_key)),
        "consent": consent,
        "payload": payload,
        **context,
    }
    try:
        canonical_event = parse_event(data)
    except EventError as exc:  # the checks above should leave nothing for the schema to refuse
        raise LegacyError(exc.code, exc.message, exc.field) from None
    retry_of = _event_id(organization_id, tracker_key, event.name, window - 1, content)
    return LegacyResult(event.name, (canonical_event,), tuple(warnings), (retry_of,))
