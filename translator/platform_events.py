"""Integration events from the platform's other services (the Campaign and Identity services): one
envelope for all, each type with its entity's ids and attributes (design document, domain model).

They arrive on the platform bus (SQS on AWS) or `POST /analytics/v1/platform-events`; the pipeline
keeps the latest state of each entity and its history (pipeline/platform/). A type this module does
not know is stored and ignored, never an error: the platform may publish new ones first.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from translator.canonical import Name, Timestamp
from translator.ids import SLUG_PATTERN

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]  # ids become storage path segments
# Settings an organization's settings change may carry; the rest of the object is ignored.
VALUE_POLICY = Literal["store", "hash", "drop"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Envelope(_Model):
    event_id: UUID
    type: str
    occurred_at: Timestamp
    organization_id: Slug


class ProjectCreated(Envelope):
    type: Literal["ProjectCreated"]
    project_id: Slug
    name: Name


class ProjectArchived(Envelope):
    type: Literal["ProjectArchived"]
    project_id: Slug


class TemplateActivated(Envelope):
    type: Literal["TemplateActivated"]
    project_id: Slug
    template_id: Slug
    template_version: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    name: Name | None = None


class DistributionChannelPublished(Envelope):
    type: Literal["DistributionChannelPublished"]
    project_id: Slug
    distribution_channel_id: Slug
    kind: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]  # email, sms, web, qr…
    name: Name | None = None


class PublicVideoShareCreated(Envelope):
    type: Literal["PublicVideoShareCreated"]
    project_id: Slug
    distribution_channel_id: Slug
    public_share_id: Slug
    expires_at: Timestamp | None = None


class OrganizationCreated(Envelope):
    type: Literal["OrganizationCreated"]
    name: Name


class Settings(_Model):
    retention_days: int | None = Field(default=None, ge=1, le=3650)
    value_policy: VALUE_POLICY | None = None


class OrganizationSettingsChanged(Envelope):
    type: Literal["OrganizationSettingsChanged"]
    settings: Settings


KnownEvent = Annotated[
    ProjectCreated | ProjectArchived | TemplateActivated | DistributionChannelPublished
    | PublicVideoShareCreated | OrganizationCreated | OrganizationSettingsChanged,
    Field(discriminator="type"),
]
KNOWN_TYPES: tuple[str, ...] = ("ProjectCreated", "ProjectArchived", "TemplateActivated",
                                "DistributionChannelPublished", "PublicVideoShareCreated",
                                "OrganizationCreated", "OrganizationSettingsChanged")
PlatformEvent = ProjectCreated | ProjectArchived | TemplateActivated | DistributionChannelPublished \
    | PublicVideoShareCreated | OrganizationCreated | OrganizationSettingsChanged | Envelope

_KNOWN: TypeAdapter[Any] = TypeAdapter(KnownEvent)


class PlatformEventError(ValueError):
    """Why an integration event was refused: `code` (as the API's error codes) and the field."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.field = code, field


def parse_platform_event(data: Any) -> PlatformEvent:
    """A known type as its model; an unknown type as its bare envelope (kept, ignored)."""
    try:
        if isinstance(data, dict) and data.get("type") in KNOWN_TYPES:
            event: PlatformEvent = _KNOWN.validate_python(data)
        else:
            event = Envelope.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"] if part not in KNOWN_TYPES) or None
        raise PlatformEventError("invalid_field", f"{field}: {first['msg']}" if field else first["msg"],
                                 field) from None
    return event


def entity_key(event: PlatformEvent) -> tuple[str, str]:
    """(table, entity id): the dimension an event describes, and which row of it."""
    if isinstance(event, ProjectCreated | ProjectArchived):
        return "projects", event.project_id
    if isinstance(event, TemplateActivated):
        return "templates", f"{event.project_id}/{event.template_id}"
    if isinstance(event, DistributionChannelPublished):
        return "channels", event.distribution_channel_id
    if isinstance(event, PublicVideoShareCreated):
        return "shares", event.public_share_id
    if isinstance(event, OrganizationCreated | OrganizationSettingsChanged):
        return "organizations", event.organization_id
    return "unknown", event.type


def attributes(event: PlatformEvent) -> dict[str, Any]:
    """What the event says of its entity (the envelope left out): the columns of its dimension it
    sets. A settings change sets only the settings it names (null clears an override); an optional
    name left out changes no name."""
    if isinstance(event, OrganizationSettingsChanged):
        return event.settings.model_dump(mode="json", exclude_unset=True)
    values = event.model_dump(mode="json", exclude={"event_id", "type", "occurred_at", "organization_id"})
    if isinstance(event, TemplateActivated | DistributionChannelPublished) and event.name is None:
        del values["name"]  # no name given: the one known stays (a new template version, say)
    if isinstance(event, ProjectCreated | ProjectArchived):
        values["archived"] = isinstance(event, ProjectArchived)  # created again later: live again
    return values
