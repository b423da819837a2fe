"""Curated rows no Python datetime holds, as files written before the compactor held event times to a
window may hold them: a client that sent occurred_at in year 1 and sent_at in 9999 got an event_time
of year -7972 (corrected for skew). Pyarrow keeps such a timestamp; converting it to Python fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import parquet
from pipeline.curated import schema
from pipeline.curated.commits import DayState
from pipeline.layout import curated_key
from pipeline.store.base import Store

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_YEAR_1, _YEAR_9999 = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
AFTER_9999 = (datetime(9999, 12, 31, tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1) + 2 * 86_400_000


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def make_impossible(store: Store, org: str, hour: datetime, event_id: str, column: str = "event_time"
                    ) -> None:
    """Rewrite one row of a curated hour: its `event_time` to year -7972 (occurred_at in year 1,
    sent_at in 9999), or its `received_at` to after 9999 (in the event-id index too, as the compactor
    writes it)."""
    key = curated_key(org, hour)
    table = pq.read_table(pa.BufferReader(store.get(key)))
    row = table.column("event_id").to_pylist().index(event_id)
    received = table.column("received_at").cast(pa.int64())[row].as_py()
    changes = ({"occurred_at": _ms(_YEAR_1), "sent_at": _ms(_YEAR_9999),
                "event_time": _ms(_YEAR_1) + received - _ms(_YEAR_9999)}
               if column == "event_time" else {"received_at": AFTER_9999})
    for name, value in changes.items():
        values = table.column(name).cast(pa.int64()).to_pylist()
        values[row] = value
        table = table.set_column(table.schema.get_field_index(name), name,
                                 pa.array(values, pa.int64()).cast(schema.TIMESTAMP))
    store.put(key, parquet.to_bytes(table))
    if column == "received_at":
        state = DayState(store, org, hour.date())
        state.replace_hour(hour.hour, table.column("event_id"), table.column("received_at"))
        state.save_ids()
