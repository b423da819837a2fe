"""pipeline/outcomes/csv_import.py: a record the csv module refuses costs only its own line."""

from __future__ import annotations

import uuid
from pathlib import Path

from pipeline.governance.viewer_keys import ViewerKeys
from pipeline.outcomes.csv_import import import_csv
from pipeline.outcomes.intake import audience_members
from pipeline.store.local import LocalStore

KEYS = ViewerKeys.parse("v1:csv-import-key")


def test_an_unreadable_record_is_reported_and_the_next_ones_are_read(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    good = [f"{n:064x}" for n in range(1, 4)]
    lines = ["viewer_hash\n", f"{good[0]}\n", "x" * 200_000 + "\n", f"{good[1]}\n", "\n", f"{good[2]}\n"]
    result = import_csv(store, "acme", lines, KEYS, audience="letters")
    assert (result.rows, result.accepted, result.duplicates) == (3, 3, 0)
    assert [(line, why.split(" (")[0]) for line, why in result.rejected] == [(3, "not a CSV record")]
    assert audience_members(store, "acme", "letters") == {KEYS.keyed(value) for value in good}


def test_outcome_columns_may_come_in_any_order_with_others_beside(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "bucket")
    lines = ["note,occurred_at,NAME,viewer_hash,outcome_id\n",
             f"hi,2026-11-01T10:00:00Z,renewed,{1:064x},{uuid.uuid4()}\n"]
    assert import_csv(store, "acme", lines, KEYS).accepted == 1
