"""The canonical v1 event: envelope, the 14 payloads, and the discriminated union over them.

Pure data and validation. The gateway, the legacy translator, the compactor and the JS build all
read the definitions from here; nothing else spells an event type or a field name by hand.
"""

# No `from __future__ import annotations`: pydantic would evaluate every string annotation of the 30
# models below when they are defined, some 3-5 ms of the ingest Lambda's cold import (bench/coldstart.py).
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from translator.engagement import BUCKET_SET_PATTERN

SCHEMA_VERSION = "1"
NAME_MAX_CHARS = 64  # free-text names are truncated, not rejected (matches Individeo's SDK)
ID_MAX_CHARS = 128

# What a Timestamp field accepts as text: an RFC 3339 date-time with an offset, its fraction of a second
# optional (up to nanoseconds). Stored with exactly milliseconds. Clients generated from the OpenAPI
# document write a datetime as Python's isoformat() does, which leaves the fraction out when it is zero.
TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$"
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
_WIRE_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")  # format_timestamp's form
# The window of event times (docs/api.md, "Event times"): nothing this product measures predates 2000,
# and a client clock may run ahead of the server's by a day at most (PostHog drops events 23 h ahead).
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(hours=24)
TIME_OUT_OF_RANGE = "event_time_out_of_range"
# A language tag as the schema accepts it (normalised on the way in); the SDK checks the same.
LOCALE_PATTERN = r"^([A-Za-z]{2,3})((?:[-_][A-Za-z0-9]{2,8})*)$"
LOCALE_MAX_CHARS = 35
_LOCALE = re.compile(LOCALE_PATTERN)


def _truncate(value: Any) -> Any:
    if isinstance(value, str) and len(value) > NAME_MAX_CHARS:
        return value[:NAME_MAX_CHARS]
    return value


def _parse_timestamp(value: Any) -> Any:
    """Accept only RFC 3339 with an explicit offset (a naive time would be ambiguous), from 2000 on."""
    if isinstance(value, str) and _WIRE_TIMESTAMP.fullmatch(value):
        parsed = datetime.fromisoformat(value)  # the common case, about 3x faster than the general path
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp needs a UTC offset, e.g. 2026-11-25T10:00:00.000Z")
        parsed = _in_utc(value)
    elif not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise ValueError("expected an RFC 3339 date and time with an offset, e.g. 2026-11-25T10:00:00.123Z")
    else:
        head, dot, frac_and_tz = value.replace("Z", "+00:00").partition(".")
        text = head
        if dot:  # Python parses at most 6 fractional digits; milliseconds are what is kept
            digits = re.match(r"\d+", frac_and_tz)
            assert digits is not None  # the pattern requires them after a dot
            text = f"{head}.{digits.group()[:6].ljust(6, '0')}{frac_and_tz[digits.end():]}"
        try:
            written = datetime.fromisoformat(text)
        except ValueError:  # a day or an hour that does not exist; year 0
            raise ValueError("not a valid date and time") from None
        parsed = _in_utc(written)
    if parsed < EARLIEST_TIME:
        raise PydanticCustomError(TIME_OUT_OF_RANGE, "lies before 2000-01-01T00:00:00.000Z")
    return parsed


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01 at +01:00 or 9999-12-31 at -14:00 is outside years 1-9999 in UTC
        raise PydanticCustomError(TIME_OUT_OF_RANGE, "is outside the years 1-9999 in UTC") from None


def format_timestamp(value: datetime) -> str:
    """UTC with exactly three fractional digits: the one stored and wire form."""
    # %-formatting the fields is about twice as fast as isoformat(timespec=...) or an f-string with the
    # same format specs, and five times strftime; this runs for every timestamp the gateway stores.
    # Validated timestamps are already in UTC.
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond // 1000
    )


@lru_cache(maxsize=1024)  # a handful of locales make nearly all traffic
def _normalise_locale(value: str) -> str:
    match = _LOCALE.fullmatch(value)
    if not match:
        raise ValueError("expected a BCP 47 language tag such as 'es-CL' or 'en'")
    parts = [match.group(1).lower()]
    for sub in re.split(r"[-_]", match.group(2))[1:]:
        parts.append(sub.upper() if len(sub) == 2 else sub.title() if len(sub) == 4 else sub)
    return "-".join(parts)


Timestamp = Annotated[
    datetime, BeforeValidator(_parse_timestamp), PlainSerializer(format_timestamp, return_type=str),
    # The pattern is part of the contract: "date-time" alone would allow lowercase t and z, and leap seconds.
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN}),
]
Name = Annotated[str, BeforeValidator(_truncate)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=ID_MAX_CHARS)]
Locale = Annotated[str, StringConstraints(max_length=LOCALE_MAX_CHARS), AfterValidator(_normalise_locale)]
ViewerHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
def _number(value: Any) -> Any:
    """Numbers stay numbers: JSON true or "5" in a numeric field is a client bug, not a value."""
    if isinstance(value, bool | str):
        raise ValueError("expected a JSON number")
    return value


# An integral float (1500.0, as some JSON encoders write it) is accepted; 1500.5 is not.
# Field before BeforeValidator: the other way round, the JSON Schema says "ge"/"le", which no
# JSON Schema reader knows, instead of minimum/maximum (validation is the same either way).
Millis = Annotated[int, Field(ge=0, le=2**53), BeforeValidator(_number)]
Percent = Annotated[float, Field(strict=True, ge=0, le=100)]  # strict: an int, never a bool or text


class _Model(BaseModel):
    # Unknown fields are dropped, never stored: a newer client may add fields, and a careless one
    # must not be able to smuggle identifiers into storage through them. Deferred: the validators that
    # take events (translator/event_parser.py, gateway/ingest.py) build these schemas when first used, so
    # importing the events builds none (the ingest Lambda's cold import, bench/coldstart.py).
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class Device(_Model):
    type: str | None = None
    os: str | None = None
    browser: str | None = None
    is_bot: bool = False


class Geo(_Model):
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None


class Consent(_Model):
    tracking: Annotated[bool, Field(strict=True)]  # "yes" or 1 is no decision: only true or false
    granted_at: Timestamp | None = None


class NoPayload(_Model):
    pass


class PositionPayload(_Model):
    position_ms: Millis


# Which hundredths of the video the session watched, and watched again (translator/engagement.py):
# optional, cumulative for the session, on video.paused, video.incomplete and video.completed.
BucketSet = Annotated[str, StringConstraints(pattern=BUCKET_SET_PATTERN), Field(
    description="100 buckets of 1 % of the duration as 25 lowercase hex characters; bucket 0 is the "
                "most significant bit of the first character (docs/player-protocol.md)")]


def _watched_first(value: str | None, info: ValidationInfo) -> str | None:
    """A bucket watched again was watched: watched_again holds no bit that watched lacks."""
    watched = info.data.get("watched")
    if value is not None and (watched is None or int(value, 16) & ~int(watched, 16)):
        raise PydanticCustomError("buckets_not_watched", "every bucket watched again must be set in watched")
    return value


class PausedPayload(_Model):
    position_ms: Millis
    watched: BucketSet | None = None
    watched_again: BucketSet | None = None

    _again = field_validator("watched_again")(staticmethod(_watched_first))


class ProgressPayload(_Model):
    position_ms: Millis
    percent: Percent


class EndPayload(_Model):
    duration_ms: Millis
    percent: Percent
    watched: BucketSet | None = None
    watched_again: BucketSet | None = None

    _again = field_validator("watched_again")(staticmethod(_watched_first))


class ErrorPayload(_Model):
    error_code: Identifier
    error_message: Name | None = None


class CtaPayload(_Model):
    cta_id: Identifier
    cta_name: Name | None = None
    cta_value: Name | None = None
    position_ms: Millis | None = None


class InteractionPayload(_Model):
    interaction_id: Identifier
    interaction_name: Name | None = None
    interaction_value: Name | None = None
    position_ms: Millis | None = None


class ChapterEnteredPayload(_Model):
    chapter_id: Identifier
    chapter_name: Name | None = None
    position_ms: Millis | None = None


class ChapterExitedPayload(_Model):
    chapter_id: Identifier
    position_ms: Millis | None = None


class AutoplayPayload(_Model):
    reason: Name | None = None


class Envelope(_Model):
    """Fields shared by every event. Server-owned fields are optional on input and overwritten."""

    event_id: UUID
    schema_version: Literal["1"]
    occurred_at: Timestamp
    sent_at: Timestamp | None = None
    received_at: Timestamp | None = None
    organization_id: str | None = None
    project_id: str | None = None
    template_id: Identifier | None = None
    template_version: Identifier | None = None
    distribution_channel_id: str | None = None
    public_share_id: str | None = None
    viewer_hash: ViewerHash | None = None
    session_id: UUID
    playback_id: Annotated[int, Field(ge=0, le=1_000_000), BeforeValidator(_number)] | None = None
    locale: Locale | None = None
    device: Device | None = None
    geo: Geo | None = None
    referrer_host: str | None = None
    consent: Consent | None = None



class SessionStarted(Envelope):
    """First event of every session."""

    event_type: Literal["session.started"]
    payload: NoPayload = Field(default_factory=NoPayload)


class VideoPlayed(Envelope):
    """Play initiated or resumed."""

    event_type: Literal["video.played"]
    payload: PositionPayload


class VideoPaused(Envelope):
    """Playback paused."""

    event_type: Literal["video.paused"]
    payload: PausedPayload


class VideoProgressed(Envelope):
    """A 25/50/75 % milestone was reached (sampled at milestones, not every tick)."""

    event_type: Literal["video.progressed"]
    payload: ProgressPayload


class VideoCompleted(Envelope):
    """Natural end; percent >= 95."""

    event_type: Literal["video.completed"]
    payload: EndPayload


class VideoIncomplete(Envelope):
    """The viewer left before the natural end."""

    event_type: Literal["video.incomplete"]
    payload: EndPayload


class VideoErrored(Envelope):
    """Player error; accepted without consent and then stored without viewer identifiers."""

    event_type: Literal["video.errored"]
    payload: ErrorPayload


class CtaClicked(Envelope):
    """A call-to-action was used."""

    event_type: Literal["cta.clicked"]
    payload: CtaPayload


class InteractionEngaged(Envelope):
    """A form, hotspot or survey was used."""

    event_type: Literal["interaction.engaged"]
    payload: InteractionPayload


class ChapterEntered(Envelope):
    """A chapter began."""

    event_type: Literal["chapter.entered"]
    payload: ChapterEnteredPayload


class ChapterExited(Envelope):
    """A chapter ended."""

    event_type: Literal["chapter.exited"]
    payload: ChapterExitedPayload


class ConsentAccepted(Envelope):
    """Audit event: the viewer accepted tracking."""

    event_type: Literal["consent.accepted"]
    payload: NoPayload = Field(default_factory=NoPayload)


class ConsentDeclined(Envelope):
    """Audit event: the viewer declined tracking; sent even with tracking off."""

    event_type: Literal["consent.declined"]
    payload: NoPayload = Field(default_factory=NoPayload)


class AutoplayFailed(Envelope):
    """The browser blocked autoplay."""

    event_type: Literal["autoplay.failed"]
    payload: AutoplayPayload = Field(default_factory=AutoplayPayload)


EventModel = (
    SessionStarted | VideoPlayed | VideoPaused | VideoProgressed | VideoCompleted | VideoIncomplete
    | VideoErrored | CtaClicked | InteractionEngaged | ChapterEntered | ChapterExited
    | ConsentAccepted | ConsentDeclined | AutoplayFailed
)
CanonicalEvent = Annotated[EventModel, Field(discriminator="event_type")]

EVENT_MODELS: dict[str, type[Envelope]] = {
    model.model_fields["event_type"].annotation.__args__[0]: model
    for model in EventModel.__args__
}
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_MODELS)
# consent.* are audit events and video.errored is operational telemetry: both pass without consent.
CONSENT_FREE_TYPES = frozenset({"consent.accepted", "consent.declined", "video.errored"})
# Identifiers removed from an event stored without consent.
VIEWER_IDENTIFIERS = ("viewer_hash", "playback_id")
NAME_FIELDS = ("cta_name", "cta_value", "interaction_name", "interaction_value", "chapter_name",
               "error_message", "reason")
