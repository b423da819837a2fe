"""Admin keys: shown once, stored as a hash under config/admin-keys/, revocable, never an org key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.governance.registry import OrganizationRegistry, RegistryError, key_id_of
from pipeline.store.local import LocalStore


def test_an_admin_key_is_stored_hashed_and_can_be_revoked(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    registry = OrganizationRegistry(store, actor="cli:operator")
    key = registry.create_admin_key()
    key_id = key_id_of(key)
    assert key.startswith("pka_") and key_id is not None and len(key) > 50
    stored, = store.list("config/admin-keys/")
    assert stored == f"config/admin-keys/{key_id}.json"
    assert key not in store.get(stored).decode() and key.split("_")[2] not in store.get(stored).decode()
    assert set(json.loads(store.get(stored))) == {"key_id", "sha256", "created_at", "revoked_at"}
    assert registry.is_admin_key(key) and registry.admin_key_active(key_id)
    assert not registry.is_admin_key(key[:-1] + ("0" if key[-1] != "0" else "1"))
    assert not registry.is_admin_key(f"pka_{key_id}")
    registry.revoke_admin_key(key_id)
    assert not registry.is_admin_key(key) and not registry.admin_key_active(key_id)
    with pytest.raises(RegistryError):
        registry.revoke_admin_key(key_id)
    records = [json.loads(store.get(name)) for name in store.list("audit/")]
    assert [(r["action"], r["scope"]) for r in records] == [
        ("admin.key_created", {"key_id": key_id}), ("admin.key_revoked", {"key_id": key_id})]
    assert key not in json.dumps(records)


def test_organization_and_admin_keys_do_not_pass_for_each_other(tmp_path: Path) -> None:
    registry = OrganizationRegistry(LocalStore(tmp_path))
    registry.create("acme")
    org_key, admin_key = registry.create_api_key("acme"), registry.create_admin_key()
    assert not registry.is_admin_key(org_key)
    assert registry.organization_for_api_key(admin_key) is None
    assert key_id_of(org_key) == org_key.split("_")[1]
    assert registry.api_key_active("acme", org_key.split("_")[1])
    assert not registry.api_key_active("globex", org_key.split("_")[1])
    assert key_id_of("pk_nothex!_x") is None and key_id_of("Bearer") is None
    assert not registry.admin_key_active("../../x")
