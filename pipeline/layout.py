"""The storage layout, the one contract between stages: every zone and state area of the bucket (the
same keys in a local directory and in S3), with its key pattern, the functions that read, write and
delete it, and its retention. Keys are built and parsed here and nowhere else; the retention zones,
the query tables, the Glue tables and the template's lifecycle rules and IAM policies derive from AREAS.

`organization_id` is the first partition key of every per-organization area, so every path prunes to
one organization.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from translator.ids import check_slug

# The AWS functions (deploy/template.py) an area grants access to. `percus serve` runs them all.
INGEST, API, WRITER, COMPACTOR, ROLLUPS, WEBHOOKS, DIGEST, PLATFORM = (
    "ingest", "api", "writer", "compactor", "rollups", "webhooks", "digest", "platform")


@dataclass(frozen=True)
class Lifecycle:
    """The bucket's rule for an area on S3 (the embedded default has no cheaper tier)."""

    expire_days: int
    glacier_ir_after: int | None = None


@dataclass(frozen=True)
class Area:
    name: str
    prefix: str  # every key of the area starts with it
    pattern: str  # the shape of its keys, as docs/architecture.md shows them
    readers: frozenset[str]
    writers: frozenset[str]
    deleters: frozenset[str] = frozenset()
    lifecycle: Lifecycle | None = None  # None: no rule (kept, or small and live)

    def org_prefix(self, org: str) -> str:
        """The prefix of one organization's keys (areas partitioned by `org=`)."""
        return f"{self.prefix}org={check_slug(org, 'organization')}/"


def _area(name: str, prefix: str, pattern: str, *, reads: tuple[str, ...] = (), writes: tuple[str, ...] = (),
          deletes: tuple[str, ...] = (), lifecycle: Lifecycle | None = None) -> Area:
    return Area(name, prefix, prefix + pattern, frozenset(reads), frozenset(writes), frozenset(deletes),
                lifecycle)


# Who does what: the compactor function also runs DSAR (rewrites raw, curated, rollups; deletes
# exports) and retention; the API also serves exports and reads the registry. Lifecycles follow the
# design document's storage tiers, "Glacier IR (N years)" read as the age at which objects are deleted;
# quarantined copies of corrupt raw objects live within the DSAR deadline, exports' links live 24 h.
RAW = _area("raw", "raw/", "org={org}/year=YYYY/month=MM/day=DD/hour=HH/{batch}.ndjson.gz",
            reads=(COMPACTOR,), writes=(WRITER, COMPACTOR), deletes=(COMPACTOR,),
            lifecycle=Lifecycle(365, glacier_ir_after=30))
QUARANTINE = _area("quarantine", "quarantine/", "{raw key}",
                   reads=(COMPACTOR,), writes=(COMPACTOR,), deletes=(COMPACTOR,), lifecycle=Lifecycle(30))
CURATED = _area("curated", "curated/", "org={org}/year=YYYY/month=MM/day=DD/HH.parquet",
                reads=(API, COMPACTOR, ROLLUPS, WEBHOOKS, DIGEST), writes=(COMPACTOR,), deletes=(COMPACTOR,),
                lifecycle=Lifecycle(5 * 365, glacier_ir_after=2 * 365))
ROLLUPS_ZONE = _area("rollups", "rollups/", "{table}/org={org}/date=YYYY-MM-DD/part.parquet",
                     reads=(API, COMPACTOR, DIGEST), writes=(COMPACTOR, ROLLUPS), deletes=(COMPACTOR,),
                     lifecycle=Lifecycle(5 * 365))
EXPORTS = _area("exports", "exports/", "org={org}/{YYYYMMDD}T{HHMMSS}Z-{id}.csv",
                reads=(API, COMPACTOR), writes=(API,), deletes=(COMPACTOR,), lifecycle=Lifecycle(2))
AUDIT = _area("audit", "audit/", "year=YYYY/month=MM/day=DD/{HHMMSS}.{ffffff}Z-{action}-{hex}.json",
              reads=(COMPACTOR,), writes=(API, COMPACTOR, WEBHOOKS, DIGEST, PLATFORM))
# The platform's organization events create and configure them (pipeline/platform/), over HTTP (API)
# or from the platform bus (PLATFORM).
ORGANIZATIONS = _area("organizations", "config/organizations/", "{org}.json",
                      reads=(API, COMPACTOR, WEBHOOKS, DIGEST, PLATFORM), writes=(API, PLATFORM))
LEGACY_GROUP_KEYS = _area("legacy group keys", "config/legacy-group-keys/", "{sha256 of the key}.json",
                          reads=(INGEST, API))
ATTACHMENTS = _area("attachments", "config/attachments/", "{sha256 of the code}.json", reads=(API,))
ADMIN_KEYS = _area("admin keys", "config/admin-keys/", "{key id}.json", reads=(API,))
COMPACTOR_STATE = _area("compactor state", "state/compactor/",
                        "org={org}/date=YYYY-MM-DD/{manifest.json,ids.parquet}",
                        reads=(COMPACTOR, ROLLUPS, WEBHOOKS), writes=(COMPACTOR,), deletes=(COMPACTOR,))
ROLLUP_STATE = _area("rollup state", "state/rollups/", "org={org}/date=YYYY-MM-DD.json",
                     reads=(COMPACTOR, ROLLUPS), writes=(COMPACTOR, ROLLUPS), deletes=(COMPACTOR,))
WEBHOOK_STATE = _area("webhook outbox", "state/webhooks/", "{org=,outbox/org=,dead/org=}{org}/…",
                      reads=(WEBHOOKS,), writes=(WEBHOOKS,), deletes=(WEBHOOKS,))
DSAR_STATE = _area("DSAR jobs", "state/dsar/", "org={org}/{request id}.json",
                   reads=(COMPACTOR,), writes=(COMPACTOR,), deletes=(COMPACTOR,))
DIGEST_STATE = _area("digest state", "state/digest/", "{org={org}/week=YYYY-Www.json,last_run.json}",
                     reads=(DIGEST,), writes=(DIGEST,))
RETENTION_STATE = _area("retention state", "state/retention/", "last_run.json")
# The platform's entities (pipeline/platform/): small, kept while the organization exists.
DIMENSIONS = _area("dimensions", "dims/", "dim_{table}{,_history}/org={org}/part.parquet",
                   reads=(API, COMPACTOR, DIGEST, PLATFORM), writes=(API, PLATFORM))
# A customer's business outcomes and audiences (lists of people sent a video), keyed like events'
# viewer ids; the API writes them, dated by the outcome's day and an audience batch's day of arrival.
OUTCOMES = _area("outcomes", "outcomes/", "org={org}/date=YYYY-MM-DD/{batch id}.parquet",
                 reads=(API, COMPACTOR), writes=(API,), deletes=(COMPACTOR,), lifecycle=Lifecycle(730))
AUDIENCES = _area("audiences", "audiences/", "org={org}/date=YYYY-MM-DD/{batch id}.parquet",
                  reads=(API, COMPACTOR), writes=(API,), deletes=(COMPACTOR,), lifecycle=Lifecycle(730))

AREAS = (RAW, QUARANTINE, CURATED, ROLLUPS_ZONE, EXPORTS, AUDIT, ORGANIZATIONS, LEGACY_GROUP_KEYS,
         ATTACHMENTS, ADMIN_KEYS, COMPACTOR_STATE, ROLLUP_STATE, WEBHOOK_STATE, DSAR_STATE, DIGEST_STATE,
         RETENTION_STATE, DIMENSIONS, OUTCOMES, AUDIENCES)

COMPACTOR_LOCK = COMPACTOR_STATE.prefix + ".lock"  # dot-named: never listed as an object
WEBHOOKS_LOCK = WEBHOOK_STATE.prefix + ".lock"
RETENTION_RUN = RETENTION_STATE.prefix + "last_run.json"
DIGEST_RUN = DIGEST_STATE.prefix + "last_run.json"
DIMENSIONS_LOCK = DIMENSIONS.prefix + ".lock"

_RAW = re.compile(
    r"^raw/org=(?P<org>[^/]+)/year=(?P<y>\d{4})/month=(?P<m>\d{2})/day=(?P<d>\d{2})/hour=(?P<h>\d{2})/"
    r"(?P<batch>[^/]+)\.ndjson\.gz$"
)
CURATED_KEY = re.compile(r"^curated/org=[^/]+/year=(\d{4})/month=(\d{2})/day=(\d{2})/\d{2}\.parquet$")
ROLLUP_KEY = re.compile(r"^rollups/[^/]+/org=[^/]+/date=(\d{4}-\d{2}-\d{2})/part\.parquet$")
DATED_KEY = re.compile(r"^(?:outcomes|audiences)/org=[^/]+/date=(\d{4}-\d{2}-\d{2})/[^/]+\.parquet$")
_COMPACTOR_DAY = re.compile(r"^state/compactor/org=[^/]+/date=(\d{4}-\d{2}-\d{2})/")


def raw_prefix(org: str) -> str:
    return RAW.org_prefix(org)


def raw_hour_prefix(org: str, hour: datetime) -> str:
    return f"{raw_prefix(org)}year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}/"


def raw_key(org: str, hour: datetime, batch_id: str) -> str:
    return f"{raw_hour_prefix(org, hour)}{batch_id}.ndjson.gz"


def parse_raw_key(key: str) -> tuple[str, datetime, str] | None:
    """(organization, hour, batch id) of a raw object key, or None when it is not one."""
    match = _RAW.fullmatch(key)
    if not match:
        return None
    hour = datetime(int(match["y"]), int(match["m"]), int(match["d"]), int(match["h"]))
    return match["org"], hour, match["batch"]


def quarantine_key(raw: str) -> str:
    """Where a raw object (or a raw prefix) is moved when it cannot be read."""
    return QUARANTINE.prefix + raw


def curated_key(org: str, hour: datetime) -> str:
    return f"{CURATED.org_prefix(org)}year={hour:%Y}/month={hour:%m}/day={hour:%d}/{hour:%H}.parquet"


def curated_month_prefix(org: str, day: date) -> str:
    return f"{CURATED.org_prefix(org)}year={day:%Y}/month={day:%m}/"


def org_of(key: str) -> str | None:
    """The organization of a key partitioned by `org=` right under its area's prefix."""
    parts = key.split("/")
    for part in parts[1:3]:
        if part.startswith("org="):
            return part[len("org="):]
    return None


def rollup_prefix(table: str) -> str:
    return f"{ROLLUPS_ZONE.prefix}{table}/"


def rollup_org_prefix(table: str, org: str) -> str:
    return f"{rollup_prefix(table)}org={check_slug(org, 'organization')}/"


def rollup_key(table: str, org: str, day: date) -> str:
    return f"{rollup_org_prefix(table, org)}date={day:%Y-%m-%d}/part.parquet"


def rollup_state_key(org: str, day: date) -> str:
    return f"{ROLLUP_STATE.org_prefix(org)}date={day:%Y-%m-%d}.json"


def compactor_state_prefix(org: str, day: date) -> str:
    return f"{COMPACTOR_STATE.org_prefix(org)}date={day:%Y-%m-%d}/"


def compactor_state_day(key: str) -> date | None:
    """The day of a key under state/compactor/ (None for anything else)."""
    match = _COMPACTOR_DAY.match(key)
    return date.fromisoformat(match[1]) if match else None


def dimension_table(table: str, part: str) -> str:
    """The name of a dimension table, in the store and in Glue: `part` is "latest" (one row per entity,
    dim_projects) or "history" (every event that changed one, dim_projects_history)."""
    return f"dim_{table}" + ("_history" if part == "history" else "")


def dimension_prefix(name: str) -> str:
    return f"{DIMENSIONS.prefix}{name}/"


def dimension_key(table: str, org: str, part: str) -> str:
    org = check_slug(org, "organization")
    return f"{dimension_prefix(dimension_table(table, part))}org={org}/part.parquet"


def export_key(org: str, name: str) -> str:
    return f"{EXPORTS.org_prefix(org)}{name}.csv"


def audit_key_time(at: datetime) -> str:
    """The time part of an audit record's key: keys sort as their records' times."""
    return f"{AUDIT.prefix}year={at:%Y}/month={at:%m}/day={at:%d}/{at:%H%M%S}.{at:%f}Z"


def dated_key(area: Area, org: str, day: date, batch_id: str) -> str:
    """An object of a zone dated by `date=` partitions (outcomes, audiences)."""
    return f"{area.org_prefix(org)}date={day:%Y-%m-%d}/{batch_id}.parquet"
