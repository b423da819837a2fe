"""Retention: partitions older than their zone's days are deleted (ZONES), with organizations'
overrides capping the viewer-level zones; on AWS the bucket's lifecycle rules (pipeline/layout.py)
apply the defaults and a run applies only the overrides (`defaults=False`). The rules:
docs/architecture.md (Governance).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from pipeline import layout
from pipeline.curated.compactor import curated_lock
from pipeline.governance import audit
from pipeline.governance.registry import OrganizationRegistry
from pipeline.progress import Progress
from pipeline.store.base import Store


@dataclass(frozen=True)
class Zone:
    name: str
    prefixes: tuple[str, ...]  # "{org}" marks the organization's place
    days: int  # the embedded default's retention
    per_org: bool  # an organization's override applies
    excludes: tuple[str, ...] = ()  # prefixes of another zone inside this one's

    def listed(self, orgs: list[str] | None) -> list[str]:
        """The prefixes to list: every organization's, or only those of `orgs`."""
        if orgs is None:
            return [prefix.split("{org}", 1)[0] for prefix in self.prefixes]
        return [prefix.format(org=org) for prefix in self.prefixes for org in orgs if "{org}" in prefix]


_BY_ORG = "org={org}/"
ZONES = (
    Zone("raw", (layout.RAW.prefix + _BY_ORG,), 30, per_org=True),
    Zone("quarantine", (layout.quarantine_key(layout.RAW.prefix + _BY_ORG),), 30, per_org=True),
    Zone("curated", (layout.CURATED.prefix + _BY_ORG, layout.COMPACTOR_STATE.prefix + _BY_ORG), 730,
         per_org=True),
    Zone("viewers", (layout.rollup_prefix("viewers") + _BY_ORG,), 5 * 365, per_org=True),
    Zone("rollups", (layout.ROLLUPS_ZONE.prefix, layout.ROLLUP_STATE.prefix), 5 * 365, per_org=False,
         excludes=(layout.rollup_prefix("viewers"),)),
    Zone("exports", (layout.EXPORTS.prefix,), 2, per_org=False),
    Zone("outcomes", (layout.OUTCOMES.prefix + _BY_ORG,), 730, per_org=True),
    Zone("audiences", (layout.AUDIENCES.prefix + _BY_ORG,), 730, per_org=True),
)
_ORG = re.compile(r"/org=([^/]+)/")
# year=/month=/day= partitions, date= partitions, and exports' `<YYYYMMDD>T<HHMMSS>Z-<id>.csv` names.
_DAY = re.compile(r"/(?:year=(\d{4})/month=(\d{2})/day=(\d{2})/|date=(\d{4}-\d{2}-\d{2})[/.]"
                  r"|(\d{4})(\d{2})(\d{2})T\d{6}Z-)")


def partition_of(key: str) -> tuple[str | None, date] | None:
    """(organization or None, day) of a partitioned key; None for a key without a day."""
    match = _DAY.search(key)
    if match is None:
        return None
    if match[4]:
        day = date.fromisoformat(match[4])
    else:
        year, month, day_of_month = match.groups()[:3] if match[1] else match.groups()[4:]
        day = date(int(year), int(month), int(day_of_month))
    org = _ORG.search(key)
    return (org[1] if org else None), day


@dataclass
class RetentionReport:
    today: date
    objects_deleted: int = 0
    # zone -> organization ("" for keys of no organization) -> days deleted
    days_deleted: dict[str, dict[str, list[date]]] = field(default_factory=dict)


def retention_days(zone: Zone, override: int | None, *, defaults: bool = True) -> int | None:
    """How many days `zone` keeps an organization's data; None when this run leaves it alone."""
    if zone.per_org and override is not None:
        return min(zone.days, override) if defaults else override
    return zone.days if defaults else None


def apply_retention(store: Store, registry: OrganizationRegistry, *, today: date | None = None,
                    defaults: bool = True, wait: bool = True, actor: str | None = None,
                    progress: Progress[RetentionReport] | None = None) -> RetentionReport:
    """Delete every expired partition. `defaults=False` applies only the organizations' overrides
    (on AWS, where lifecycle rules apply the defaults). `wait=False` raises CompactionBusy instead of
    waiting for a compaction or DSAR job in progress. `today` (UTC) is for tests."""
    today = today or datetime.now(UTC).date()
    overrides = {org.organization_id: org.retention_days for org in registry.list()
                 if org.retention_days is not None}
    report = RetentionReport(today)
    zones = [zone for zone in ZONES if defaults or zone.per_org]
    with curated_lock(store, wait=wait):
        for number, zone in enumerate(zones, 1):
            _apply_zone(store, zone, overrides, defaults, today, report, actor)
            if progress is not None:
                progress(number, len(zones), report)
    return report


def _apply_zone(store: Store, zone: Zone, overrides: dict[str, int], defaults: bool, today: date,
                report: RetentionReport, actor: str | None) -> None:
    expired: dict[str, list[str]] = {}  # organization -> keys
    days: dict[str, set[date]] = {}
    for prefix in zone.listed(None if defaults else sorted(overrides)):
        for key in store.list(prefix):
            partition = partition_of(key)
            if partition is None or key.startswith(zone.excludes):
                continue
            org, day = partition
            keep = retention_days(zone, overrides.get(org) if org else None, defaults=defaults)
            if keep is not None and day < today - timedelta(days=keep):
                expired.setdefault(org or "", []).append(key)
                days.setdefault(org or "", set()).add(day)
    for org, keys in sorted(expired.items()):
        deleted = sorted(days[org])
        override = overrides.get(org) if zone.per_org else None
        # Recorded before deleting: no deletion goes unaudited, even one a crash interrupts.
        audit.record(store, "retention.deleted", {"organization_id": org or None, "zone": zone.name}, {
            "retention_days": retention_days(zone, override, defaults=defaults),
            "override": override is not None,
            "days": [day.isoformat() for day in deleted],
            "objects_deleted": len(keys),
        }, actor=actor)
        for key in keys:
            store.delete(key)
        report.objects_deleted += len(keys)
        report.days_deleted.setdefault(zone.name, {})[org] = deleted
