"""Outcomes and audience members into the store: each viewer hash keyed as ingest keys it
(`ViewerKeys.keyed`) before anything is written, so the client form never reaches a byte.

Outcomes are grouped by the UTC day they occurred and written as one Parquet object per request and
day, named by a uuid5 of its outcome ids, so a re-sent request overwrites its own object. An outcome
id already stored on its day is a duplicate, not written again; the reports keep one row per id
whatever happens (two racing posts of one id). Audience members are written on the day they arrive,
only those not in the audience yet.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import layout, parquet
from pipeline.governance.viewer_keys import ViewerKeys
from pipeline.outcomes.rows import AUDIENCE_SCHEMA, OUTCOME_SCHEMA, Outcome
from pipeline.query.tables import AUDIENCES, OUTCOMES
from pipeline.store.base import Store
from translator.ids import check_slug

_BATCH = uuid.UUID("0d9a3f5e-6c1b-4b7e-9d52-6a8f0e3c2b17")  # the uuid5 namespace of batch names


@dataclass(frozen=True)
class Stored:
    accepted: int  # written by this call
    duplicates: int  # already stored (or repeated within the call), not written again
    days: tuple[date, ...]  # the partitions written


def store_outcomes(store: Store, org: str, outcomes: Sequence[Outcome], keys: ViewerKeys, *,
                   received_at: datetime) -> Stored:
    """Write the outcomes of `org` not stored yet; `outcomes` are checked (rows.parse_outcome)."""
    check_slug(org, "organization")
    by_day: dict[date, dict[str, Outcome]] = defaultdict(dict)
    repeated = 0
    for outcome in outcomes:
        day, outcome_id = outcome.occurred_at.date(), str(outcome.outcome_id)
        if outcome_id in by_day[day]:
            repeated += 1
        by_day[day].setdefault(outcome_id, outcome)
    accepted, written = 0, []
    for day, fresh in sorted(by_day.items()):
        known = _column(store, OUTCOMES.keys(store, org, [day]), "outcome_id")
        new = [outcome for outcome_id, outcome in fresh.items() if outcome_id not in known]
        repeated += len(fresh) - len(new)
        if not new:
            continue
        rows = pa.table({
            "outcome_id": [str(outcome.outcome_id) for outcome in new],
            "viewer_hash": [keys.keyed(outcome.viewer_hash) for outcome in new],
            "name": [outcome.name for outcome in new],
            "value": [outcome.value for outcome in new],
            "currency": [outcome.currency for outcome in new],
            "occurred_at": [outcome.occurred_at for outcome in new],
            "received_at": [received_at] * len(new),
        }, schema=OUTCOME_SCHEMA)
        store.put(layout.dated_key(layout.OUTCOMES, org, day, _batch(sorted(rows["outcome_id"].to_pylist()))),
                  parquet.to_bytes(rows))
        accepted += len(new)
        written.append(day)
    return Stored(accepted, repeated, tuple(written))


def add_members(store: Store, org: str, audience: str, client_hashes: Iterable[str], keys: ViewerKeys, *,
                received_at: datetime) -> Stored:
    """Add checked client-side hashes (rows.parse_member) to an audience; members already in it count
    as duplicates."""
    check_slug(org, "organization")
    check_slug(audience, "audience")
    given = [keys.keyed(value) for value in client_hashes]
    members = audience_members(store, org, audience)
    new = [value for value in dict.fromkeys(given) if value not in members]
    duplicates = len(given) - len(new)
    if not new:
        return Stored(0, duplicates, ())
    day = received_at.date()
    rows = pa.table({"audience": [audience] * len(new), "viewer_hash": new,
                     "added_at": [received_at] * len(new)}, schema=AUDIENCE_SCHEMA)
    store.put(layout.dated_key(layout.AUDIENCES, org, day, _batch([audience, *sorted(new)])),
              parquet.to_bytes(rows))
    return Stored(len(new), duplicates, (day,))


def audience_members(store: Store, org: str, audience: str) -> set[str]:
    """The keyed ids in one audience, over every day still kept."""
    members: set[str] = set()
    for _, key in AUDIENCES.keys(store, org, AUDIENCES.days(store, org)):
        rows = parquet.from_bytes(store.get(key), columns=["audience", "viewer_hash"])
        members.update(rows.filter(pc.equal(rows["audience"], audience))["viewer_hash"].to_pylist())
    return members


def _column(store: Store, keys: Iterable[tuple[date, str]], name: str) -> set[str]:
    found: set[str] = set()
    for _, key in keys:
        try:
            found.update(parquet.from_bytes(store.get(key), columns=[name])[name].to_pylist())
        except KeyError:  # removed since the listing (retention, DSAR)
            continue
    return found


def _batch(names: Sequence[str]) -> str:
    return uuid.uuid5(_BATCH, "\n".join(names)).hex
