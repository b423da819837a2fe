"""The audit log the compactor writes quarantine records to: append-only, time-ordered, no personal data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.governance import audit
from pipeline.store.local import LocalStore


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "bucket")


def test_records_are_separate_objects_in_time_order(store: LocalStore) -> None:
    at = datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC)
    scope, details = {"organization_id": "acme"}, {"reason": "bad_gzip"}
    first = audit.record(store, "raw.quarantined", scope, details, now=at)
    second = audit.record(store, "raw.quarantined", scope, details, now=at)
    later = audit.record(store, "dsar.deleted", {"organization_id": "acme"}, {"rows": 3},
                         now=at.replace(second=1))
    assert first != second  # the same action twice in the same millisecond is still two records
    assert first.startswith("audit/year=2026/month=11/day=25/100000.123456Z-raw.quarantined-")
    assert list(store.list("audit/"))[-1] == later
    assert json.loads(store.get(first)) == {
        "at": "2026-11-25T10:00:00.123Z", "action": "raw.quarantined",
        "scope": {"organization_id": "acme"}, "details": {"reason": "bad_gzip"},
    }


@pytest.mark.parametrize(("scope", "details"), [
    ({"viewer_hash": "ab" * 32}, {}),
    ({"organization_id": "acme"}, {"session_id": "0f0e"}),
    ({"organization_id": "acme"}, {"Event": "x"}),
    ({"organization_id": "acme"}, {"sample": {"event_id": "x"}}),
    ({"organization_id": "acme"}, {"lines": [{"a": 1}]}),
])
def test_values_that_could_carry_personal_data_are_refused(store: LocalStore, scope: dict,
                                                           details: dict) -> None:
    with pytest.raises(ValueError, match="audit"):
        audit.record(store, "raw.quarantined", scope, details)
    assert list(store.list("audit/")) == []


def test_actions_are_short_lowercase_names(store: LocalStore) -> None:
    with pytest.raises(ValueError, match="action"):
        audit.record(store, "Raw Quarantined/../x", {}, {})
    assert audit.record(store, "retention.applied", {}, {"objects": [1, 2]}).endswith(".json")
