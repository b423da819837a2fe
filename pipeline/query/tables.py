"""The tables queries read: their file columns, their partition columns, and where each
organization-day of them lives in the store (pipeline/layout.py).

  curated          curated/org=<org>/year=YYYY/month=MM/day=DD/<HH>.parquet   partitions org, year, month, day
  rollup_<name>    rollups/<name>/org=<org>/date=YYYY-MM-DD/part.parquet      partitions org, date (text)
  outcomes         outcomes/org=<org>/date=YYYY-MM-DD/<batch>.parquet        partitions org, date (text)
  audiences        audiences/org=<org>/date=YYYY-MM-DD/<batch>.parquet       partitions org, date (text)

The curated day is the day of `received_at`; a rollup date is the day its rows are dated by
(`pipeline/reporting/rollups.py`); an outcome's date is the day it occurred, an audience batch's the
day it arrived. The same names, columns and partitions are the Glue tables Athena reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import pyarrow as pa

from pipeline import layout
from pipeline.curated import schema
from pipeline.outcomes import rows as outcome_rows
from pipeline.query.sql import ENGAGEMENT_COUNTS, SESSION_MEASURES
from pipeline.store.base import Store
from translator.ids import check_slug

_KEY_COLUMNS = [pa.field("project_id", pa.string()), pa.field("template_id", pa.string()),
                pa.field("is_bot", pa.bool_())]
_MEASURE_COLUMNS = [pa.field(name, pa.float64() if name == "sum_max_percent" else pa.int64())
                    for name in SESSION_MEASURES]


@dataclass(frozen=True)
class Table:
    name: str  # as queries spell it
    schema: pa.Schema  # the columns of its files
    rollup: str | None = None  # the rollup's name in the layout
    zone: str | None = None  # the prefix of a table partitioned by org and date; None: curated
    dated_key: re.Pattern[str] | None = None  # its keys, the date text in group 1

    @property
    def curated(self) -> bool:
        return self.zone is None

    @property
    def partitions(self) -> pa.Schema:
        if self.curated:
            return pa.schema([("org", pa.string()), ("year", pa.int32()), ("month", pa.int32()),
                              ("day", pa.int32())])
        return pa.schema([("org", pa.string()), ("date", pa.string())])

    def org_prefix(self, org: str) -> str:
        if self.zone is None:
            return layout.CURATED.org_prefix(org)
        return f"{self.zone}org={check_slug(org, 'organization')}/"

    def day_of(self, key: str) -> date | None:
        """The partition day of one of this table's object keys (None for anything else)."""
        if self.dated_key is None:
            match = layout.CURATED_KEY.fullmatch(key)
            return date(int(match[1]), int(match[2]), int(match[3])) if match else None
        match = self.dated_key.fullmatch(key)
        return date.fromisoformat(match[1]) if match else None

    def partition_values(self, org: str, day: date) -> dict[str, object]:
        if self.curated:
            return {"org": org, "year": day.year, "month": day.month, "day": day.day}
        return {"org": org, "date": day.isoformat()}

    def days(self, store: Store, org: str) -> list[date]:
        """The partition days present for one organization, sorted."""
        found = {self.day_of(key) for key in store.list(self.org_prefix(org))}
        return sorted(day for day in found if day is not None)

    def keys(self, store: Store, org: str, days: Iterable[date]) -> list[tuple[date, str]]:
        """The objects of some of one organization's partitions: (day, key), sorted."""
        wanted = set(days)
        if not wanted:
            return []
        prefix = self.org_prefix(org)
        if self.curated:  # list month by month: a month of an organization is ≤ 744 files
            prefixes = sorted({layout.curated_month_prefix(org, day) for day in wanted})
        else:
            prefixes = [prefix]
        found = []
        for listed in prefixes:
            for key in store.list(listed):
                day = self.day_of(key)
                if day in wanted:
                    found.append((day, key))
        return sorted(found)


def _rollup(name: str, columns: list[pa.Field]) -> Table:
    return Table(f"rollup_{name}", pa.schema(_KEY_COLUMNS + columns), rollup=name,
                 zone=layout.rollup_prefix(name), dated_key=layout.ROLLUP_KEY)


CURATED = Table("curated", schema.SCHEMA)
ROLLUPS: dict[str, Table] = {name: _rollup(name, columns) for name, columns in (
    ("daily", _MEASURE_COLUMNS),
    ("breakdown", [pa.field("dimension", pa.string()), pa.field("value", pa.string()),
                   *_MEASURE_COLUMNS]),
    # viewer_hash for the viewer's data requests (pipeline/governance/dsar.py), viewer_key for counts.
    ("viewers", [pa.field("viewer_hash", pa.string()), pa.field("viewer_key", pa.decimal128(38, 0))]),
    ("ctas", [pa.field("cta_id", pa.string()), pa.field("cta_name", pa.string()),
              pa.field("clicks", pa.int64()), pa.field("sessions", pa.int64())]),
    ("chapters", [pa.field("chapter_id", pa.string()), pa.field("chapter_name", pa.string()),
                  pa.field("entries", pa.int64()), pa.field("sessions", pa.int64())]),
    ("errors", [pa.field("error_code", pa.string()), pa.field("errors", pa.int64()),
                pa.field("sessions", pa.int64())]),
    ("engagement", [pa.field(name, pa.int64()) for name in ("bucket", *ENGAGEMENT_COUNTS)]),
)}
# The daily table is written last for a day: its presence means the whole day is rolled up.
COMMIT_ROLLUP = "daily"
OUTCOMES = Table("outcomes", outcome_rows.OUTCOME_SCHEMA, zone=layout.OUTCOMES.prefix,
                 dated_key=layout.DATED_KEY)
AUDIENCES = Table("audiences", outcome_rows.AUDIENCE_SCHEMA, zone=layout.AUDIENCES.prefix,
                  dated_key=layout.DATED_KEY)
TABLES: dict[str, Table] = {CURATED.name: CURATED, **{table.name: table for table in ROLLUPS.values()},
                            OUTCOMES.name: OUTCOMES, AUDIENCES.name: AUDIENCES}
