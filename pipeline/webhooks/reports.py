"""What a webhook run did, per organization (OrgReport) and over all of them (WebhookReport)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class OrgReport:
    events_collected: int = 0  # put in the outbox by this run
    batches_collected: int = 0
    batches_delivered: int = 0
    events_delivered: int = 0
    failed_attempts: int = 0
    dead_lettered: list[str] = field(default_factory=list)  # batch ids
    events_gone: int = 0  # named by a batch, deleted before it was sent (DSAR, retention)
    pending: int = 0  # batches left in the outbox
    error: str | None = None  # the run failed for this organization (the others carry on)


@dataclass
class WebhookReport:
    organizations: dict[str, OrgReport] = field(default_factory=dict)

    def total(self, name: str) -> int:
        values = [getattr(report, name) for report in self.organizations.values()]
        return sum(len(value) if isinstance(value, list) else value for value in values)
