"""The one handler of integration events, whichever way they came in (the SQS consumer, the HTTP
endpoint, `percus platform replay`): each item parsed on its own, stored once by event_id, and the
organization events applied to the registry as an operator's command would be (audited)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline import layout
from pipeline.governance.registry import OrganizationRegistry
from pipeline.platform.dims import fold, read_history, store_events
from pipeline.store.lock import Busy, store_lock
from translator.platform_events import (
    KNOWN_TYPES,
    OrganizationCreated,
    OrganizationSettingsChanged,
    PlatformEvent,
    PlatformEventError,
    parse_platform_event,
)

ACTOR = "platform-events"  # who changed an organization's settings, in the audit log
SETTINGS = ("retention_days", "value_policy")


class DimensionsBusy(Busy):
    pass


@dataclass
class Outcome:
    accepted: int = 0  # new, known types
    duplicates: int = 0  # an event_id already stored
    ignored: int = 0  # new, of a type this version does not know: stored, nothing else
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {index, code, message, field}

    def as_json(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "ignored": self.ignored,
                "rejected": self.rejected}


def parse_all(items: Sequence[Any]) -> tuple[list[PlatformEvent], list[dict[str, Any]]]:
    """The items that parse, and a refusal for each other one (by its index)."""
    events, rejected = [], []
    for index, item in enumerate(items):
        try:
            events.append(parse_platform_event(item))
        except PlatformEventError as error:
            rejected.append({"index": index, "code": error.code, "message": str(error), "field": error.field})
    return events, rejected


def handle(registry: OrganizationRegistry, items: Sequence[Any], received_at: datetime) -> Outcome:
    events, rejected = parse_all(items)
    outcome = Outcome(rejected=rejected)
    by_org: dict[str, list[PlatformEvent]] = {}
    for event in events:
        by_org.setdefault(event.organization_id, []).append(event)
    with store_lock(registry.store, layout.DIMENSIONS_LOCK, DimensionsBusy, "dimensions are being written"):
        for org, batch in by_org.items():
            stored = store_events(registry.store, org, batch, received_at)
            outcome.duplicates += stored.duplicates
            outcome.ignored += sum(event.type not in KNOWN_TYPES for event in stored.added)
            outcome.accepted += sum(event.type in KNOWN_TYPES for event in stored.added)
            if any(isinstance(event, OrganizationCreated | OrganizationSettingsChanged)
                   for event in stored.added):
                apply_organization(registry, org)
    return outcome


def apply_organization(registry: OrganizationRegistry, org: str) -> None:
    """Bring the registry to the organization's folded state: created once an OrganizationCreated is
    known, then its settings as the newest change of each says (a late, older change is no change)."""
    history = read_history(registry.store, "organizations", org)
    if registry.get(org) is None:
        if not any(row["type"] == "OrganizationCreated" for row in history):
            return  # settings before the organization exists: applied when it is created
        registry.create(org)
    state = fold(history).get(org, {})
    current = registry.require(org)
    changes = {name: state[name] for name in SETTINGS
               if name in state and state[name] != getattr(current, name)
               and not (name == "value_policy" and state[name] is None)}  # a policy is never unset
    if changes:
        registry.update(org, **changes)
