"""Object keys of every zone: the same in a local directory and in S3 (ARCHITECTURE.md, storage layout).

`organization_id` is the first partition key everywhere, so every path prunes to one organization.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from translator.ids import check_slug

_RAW = re.compile(
    r"^raw/org=(?P<org>[^/]+)/year=(?P<y>\d{4})/month=(?P<m>\d{2})/day=(?P<d>\d{2})/hour=(?P<h>\d{2})/"
    r"(?P<batch>[^/]+)\.ndjson\.gz$"
)


def raw_prefix(org: str) -> str:
    return f"raw/org={check_slug(org, 'organization')}/"


def raw_hour_prefix(org: str, hour: datetime) -> str:
    return f"{raw_prefix(org)}year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}/"


def raw_key(org: str, hour: datetime, batch_id: str) -> str:
    return f"{raw_hour_prefix(org, hour)}{batch_id}.ndjson.gz"


def parse_raw_key(key: str) -> tuple[str, datetime, str] | None:
    """(organization, hour, batch id) of a raw object key, or None when it is not one."""
    match = _RAW.match(key)
    if not match:
        return None
    hour = datetime(int(match["y"]), int(match["m"]), int(match["d"]), int(match["h"]))
    return match["org"], hour, match["batch"]


def curated_key(org: str, hour: datetime) -> str:
    return (f"curated/org={check_slug(org, 'organization')}/year={hour:%Y}/month={hour:%m}/"
            f"day={hour:%d}/{hour:%H}.parquet")


def rollup_key(table: str, org: str, day: date) -> str:
    return f"rollups/{table}/org={check_slug(org, 'organization')}/date={day:%Y-%m-%d}/part.parquet"
