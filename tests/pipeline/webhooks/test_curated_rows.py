"""A curated row goes out as the canonical event the gateway stored (the compactor tests'
events, through the real compactor)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.curated.compactor import compact
from pipeline.layout import curated_key
from pipeline.store.local import LocalStore
from pipeline.webhooks.curated_rows import canonical_event
from tests.pipeline._sessions import write_raw
from tests.pipeline.curated._raw import PAYLOADS, stored


def test_every_event_type_goes_out_as_the_canonical_event_that_was_stored(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    items = [stored(event_type) for event_type in PAYLOADS]
    items.append(stored("video.errored", viewer_hash=None, playback_id=None, consent=None, device=None,
                        geo=None, sent_at="2026-11-25T10:14:59.000Z"))  # sparse: objects absent
    write_raw(store, items)
    compact(store)
    rows = pq.read_table(pa.BufferReader(store.get(curated_key("acme", datetime(2026, 11, 25, 10)))))
    by_id = {row["event_id"]: canonical_event(row) for row in rows.to_pylist()}
    assert by_id == {event["event_id"]: event for event in items}
