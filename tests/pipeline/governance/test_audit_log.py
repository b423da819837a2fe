"""Reading the audit log back, the records the organization registry writes (who, when, what, which
organization; never a key or a viewer id), and records that are never overwritten."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.governance import audit
from pipeline.governance.registry import Attachment, OrganizationRegistry, RegistryError
from pipeline.store.base import Store
from pipeline.store.local import LocalStore

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "bucket")
    audit.record(store, "raw.quarantined", {"organization_id": "acme"}, {"n": 1}, now=T0 - timedelta(days=1))
    audit.record(store, "dsar.completed", {"organization_id": "acme"}, {"n": 2}, now=T0, actor="cli:ana")
    audit.record(store, "dsar.completed", {"organization_id": "globex"}, {"n": 3},
                 now=T0 + timedelta(hours=1))
    audit.record(store, "dsar-other", {"organization_id": "acme"}, {"n": 4}, now=T0 + timedelta(hours=2))
    audit.record(store, "retention.deleted", {"organization_id": None, "zone": "exports"}, {"n": 5},
                 now=T0 + timedelta(days=1))
    return store


def numbers(records: object) -> list[int]:
    return [record["details"]["n"] for record in records]  # type: ignore[attr-defined]


def test_records_come_back_in_time_order_with_who_asked(store: LocalStore) -> None:
    records = list(audit.list_records(store))
    assert numbers(records) == [1, 2, 3, 4, 5]
    assert records[1] == {"at": "2026-11-25T10:00:00.000Z", "action": "dsar.completed", "actor": "cli:ana",
                          "scope": {"organization_id": "acme"}, "details": {"n": 2}}
    assert "actor" not in records[0]  # written by the pipeline on its own


def test_filters_by_organization_action_family_and_time(store: LocalStore) -> None:
    assert numbers(audit.list_records(store, org="acme")) == [1, 2, 4]
    assert numbers(audit.list_records(store, action="dsar")) == [2, 3]  # not "dsar-other"
    assert numbers(audit.list_records(store, action="dsar.completed", org="globex")) == [3]
    assert numbers(audit.list_records(store, since=T0 + timedelta(minutes=30))) == [3, 4, 5]
    assert numbers(audit.list_records(store, since=date(2026, 11, 25))) == [2, 3, 4, 5]
    assert numbers(audit.list_records(store, since=datetime(2026, 11, 25, 11, 0))) == [3, 4, 5]  # naive: UTC
    chile = timezone(timedelta(hours=-3))
    assert numbers(audit.list_records(store, since=datetime(2026, 11, 25, 8, 0, tzinfo=chile))) == [3, 4, 5]


def test_the_registry_records_settings_and_key_changes_without_the_key(store: LocalStore) -> None:
    registry = OrganizationRegistry(store, actor="cli:ana")
    registry.create("initech", retention_days=90)
    registry.update("initech", retention_days=30)
    key = registry.create_api_key("initech")
    key_id = key.split("_")[1]
    registry.revoke_api_key("initech", key_id)
    records = list(audit.list_records(store, org="initech"))
    assert [(r["action"], r["details"]) for r in records] == [
        ("org.created", {"retention_days": 90}),
        ("org.settings_changed", {"retention_days": 30, "previous_retention_days": 90}),
        ("org.api_key_created", {"key_id": key_id}),
        ("org.api_key_revoked", {"key_id": key_id}),
    ]
    assert {r["actor"] for r in records} == {"cli:ana"}
    stored = b"".join(store.get(k) for k in store.list("audit/"))
    assert key.encode() not in stored and key.split("_")[2].encode() not in stored


def test_update_leaves_what_it_is_not_given_and_clears_with_none(store: LocalStore) -> None:
    registry = OrganizationRegistry(store, actor="cli:ana")
    registry.create("initech", retention_days=90, legacy_group_keys=("GK-initech",))
    assert registry.update("initech").retention_days == 90  # nothing given: nothing changes
    assert registry.update("initech", retention_days=None).retention_days is None  # the override cleared
    assert registry.require("initech").legacy_group_key_hashes == [hashlib.sha256(b"GK-initech").hexdigest()]
    with pytest.raises(RegistryError, match="at least 1 day"):
        registry.update("initech", retention_days=0)
    changes = [r["details"] for r in audit.list_records(store, org="initech", action="org.settings_changed")]
    assert changes == [{"retention_days": None, "previous_retention_days": 90}]  # no record of no change


def test_a_legacy_group_key_is_recorded_by_count_never_by_value(store: LocalStore) -> None:
    registry = OrganizationRegistry(store, actor="cli:ana")
    registry.create("initech", legacy_group_keys=("GK-secret-one",))
    registry.add_legacy_group_key("initech", "GK-secret-two")
    registry.add_legacy_group_key("initech", "GK-secret-two")  # already bound: nothing new to record
    records = list(audit.list_records(store, org="initech", action="org.legacy_group_key_added"))
    # (Records of one millisecond list in any order.)
    assert sorted((r["details"]["legacy_group_keys"], r["actor"]) for r in records) == [
        (1, "cli:ana"), (2, "cli:ana")]
    assert all(set(r["details"]) == {"legacy_group_keys"} for r in records)
    written = b"".join(store.get(key) for key in store.list("audit/"))
    assert b"GK-secret" not in written
    assert hashlib.sha256(b"GK-secret-one").hexdigest().encode() not in written


def test_registering_an_attachment_is_recorded_without_its_code(store: LocalStore) -> None:
    registry = OrganizationRegistry(store, actor="cli:ana")
    registry.create("initech")
    registry.create("globex")
    code = "ZX81-attachment"
    registry.register_attachment(Attachment(attachment_code=code, organization_id="globex", project_id="p0"))
    registry.register_attachment(Attachment(attachment_code=code, organization_id="initech", project_id="p1",
                                            template_id="t1"))
    (record,) = audit.list_records(store, org="initech", action="legacy")
    assert record["action"] == "legacy.attachment_registered" and record["actor"] == "cli:ana"
    assert record["details"] == {"attachment_sha256": hashlib.sha256(code.encode()).hexdigest(),
                                 "project_id": "p1", "template_id": "t1", "tracking": False,
                                 "consent_required": True, "replaced": True,
                                 "previous_organization_id": "globex"}
    assert code.encode() not in b"".join(store.get(key) for key in store.list("audit/"))


def test_create_never_replaces_an_object(any_store: Store) -> None:
    any_store.create("audit/a.json", b"first")
    with pytest.raises(FileExistsError):
        any_store.create("audit/a.json", b"second")
    assert any_store.get("audit/a.json") == b"first"
    assert list(any_store.list("audit/")) == ["audit/a.json"]  # no temporary file left behind


def test_a_record_never_overwrites_another(any_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # The one way two records could share a key: the same key time, action and random part.
    monkeypatch.setattr(audit.uuid, "uuid4", lambda: uuid.UUID(int=7))
    key = audit.record(any_store, "dsar.completed", {"organization_id": "acme"}, {"n": 1}, now=T0)
    with pytest.raises(FileExistsError):
        audit.record(any_store, "dsar.completed", {"organization_id": "acme"}, {"n": 2}, now=T0)
    assert numbers(audit.list_records(any_store)) == [1] and key.startswith("audit/")


def test_records_made_in_quick_succession_list_in_the_order_they_were_made(tmp_path: Path) -> None:
    """Keys carry microseconds: records of the same millisecond (a settings change, then a key) keep
    their order instead of sorting by action name."""
    store = LocalStore(tmp_path)
    actions = ["org.settings_changed", "org.api_key_created", "org.api_key_revoked", "org.created"] * 25
    for action in actions:
        audit.record(store, action, {"organization_id": "acme"}, {})
    assert [r["action"] for r in audit.list_records(store, org="acme")] == actions
