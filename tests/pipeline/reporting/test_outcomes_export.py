"""The `outcomes` CSV export kind: one row per outcome id that occurred in the range, keyed like the
events export's viewer ids; refused with a project or template; deleted by a DSAR holding the viewer."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest

from pipeline.governance.dsar import delete_viewer
from pipeline.query.duckdb_engine import DuckDbEngine
from pipeline.reporting import exports
from pipeline.reporting.selection import Selection
from pipeline.store.local import LocalStore
from tests.pipeline._outcomes import KEYS, client, keyed, known_outcomes


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    made = LocalStore(tmp_path / "bucket")
    known_outcomes(made)
    return made


def rows(store: LocalStore, selection: Selection) -> list[dict[str, str]]:
    out = io.BytesIO()
    count = exports.write_csv(store, DuckDbEngine(store), "acme", selection, out, kind="outcomes")
    found = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert len(found) == count
    return found


def test_one_row_per_outcome_of_the_range_by_time(store: LocalStore) -> None:
    everything = rows(store, Selection())
    assert len(everything) == 10  # the racing copy of one outcome id counts once
    assert list(everything[0]) == list(exports.OUTCOME_COLUMNS)
    first = everything[0]
    assert (first["viewer_hash"], first["name"], first["occurred_at"]) == (
        keyed(2), "policy_renewed", "2026-11-24T09:00:00.000Z")
    assert [row["value"] for row in everything if row["currency"] == "EUR"] == ["10.5", "50", "100", "999"]
    window = rows(store, Selection(date_from=date(2026, 11, 24), date_to=date(2026, 11, 26)))
    order = [row["viewer_hash"] for row in window]
    # V5's and the bot V8's share a time: either order (then by outcome id, random here).
    assert (order[0], sorted(order[1:3]), order[3]) == (keyed(2), sorted([keyed(5), keyed(8)]), keyed(4))
    assert all(client(n) not in str(everything) for n in range(10))


def test_a_project_or_template_filter_is_refused(store: LocalStore) -> None:
    with pytest.raises(ValueError, match="project_id does not apply to kind outcomes"):
        exports.create_export(store, DuckDbEngine(store), "acme", Selection(project_id="p1"), kind="outcomes",
                              actor="cli:test")


def test_a_dsar_deletes_an_outcomes_export_holding_the_viewer(store: LocalStore) -> None:
    made = exports.create_export(store, DuckDbEngine(store), "acme", Selection(), kind="outcomes",
                                 actor="cli:test")
    report = delete_viewer(store, "acme", client(1), keys=KEYS)
    assert made.key in report.keys("exports")
    assert made.key not in set(store.list(""))
