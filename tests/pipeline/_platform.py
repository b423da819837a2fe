"""Integration events for a test's organization, through the real handler into the dimension tables:
projects named (some archived) and templates named, as the platform's services would say."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pipeline.governance.registry import OrganizationRegistry
from pipeline.platform.handler import handle
from pipeline.store.base import Store

AT = "2026-11-01T09:00:00.000Z"


def platform_event(type_: str, org: str, at: str = AT, **fields: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "type": type_, "occurred_at": at, "organization_id": org,
            **fields}


def describe(store: Store, org: str, *, projects: Mapping[str, str] | None = None,
             archived: Iterable[str] = (), templates: Mapping[tuple[str, str], str] | None = None) -> None:
    """`projects` (id -> name) created, those of `archived` archived a day later, `templates`
    ((project, template) -> name) activated."""
    events = [platform_event("ProjectCreated", org, project_id=project, name=name)
              for project, name in (projects or {}).items()]
    events += [platform_event("ProjectArchived", org, "2026-11-02T09:00:00.000Z", project_id=project)
               for project in archived]
    events += [platform_event("TemplateActivated", org, project_id=project, template_id=template,
                              template_version="1", name=name)
               for (project, template), name in (templates or {}).items()]
    outcome = handle(OrganizationRegistry(store), events, datetime(2026, 11, 2, 12, tzinfo=UTC))
    assert outcome.accepted == len(events), outcome.rejected
