"""The organization registry on both stores: settings, hashed API keys, Individeo bindings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import layout
from pipeline.governance import audit
from pipeline.governance.registry import Attachment, OrganizationRegistry, RegistryError
from pipeline.governance.registry.models import sha256_hex
from pipeline.store.base import Store
from pipeline.store.local import LocalStore


def test_create_get_list_and_duplicate(any_store: Store) -> None:
    registry = OrganizationRegistry(any_store)
    created = registry.create("acme", retention_days=90, legacy_group_keys=("GK-1",))
    assert registry.get("acme") == created
    assert created.retention_days == 90 and created.legacy_group_key_hashes == [sha256_hex("GK-1")]
    assert len(created.salt) == 32
    registry.create("globex")
    assert [o.organization_id for o in registry.list()] == ["acme", "globex"]
    with pytest.raises(RegistryError, match="already exists"):
        registry.create("acme")
    with pytest.raises(ValueError, match="organization"):
        registry.create("../etc")


def test_salts_differ_per_organization(any_store: Store) -> None:
    registry = OrganizationRegistry(any_store)
    assert registry.create("a").salt != registry.create("b").salt


def test_api_keys_are_stored_only_as_hashes_and_revocable(any_store: Store) -> None:
    registry = OrganizationRegistry(any_store)
    registry.create("acme")
    registry.create("globex")
    key = registry.create_api_key("acme")
    other = registry.create_api_key("globex")
    assert registry.organization_for_api_key(key) == "acme"
    assert registry.organization_for_api_key(other) == "globex"
    stored = b"".join(any_store.get(k) for k in any_store.list("config/"))
    assert key.encode() not in stored and key.split("_")[2].encode() not in stored
    # A key with another organization's name spliced in does not verify.
    forged = key.removesuffix("_acme") + "_globex"
    assert registry.organization_for_api_key(forged) is None
    tampered = key.split("_")
    tampered[2] = tampered[2][::-1]
    assert registry.organization_for_api_key("_".join(tampered)) is None
    assert registry.organization_for_api_key("garbage") is None
    assert registry.organization_for_api_key("pk_1_2_../x") is None
    key_id = key.split("_")[1]
    registry.revoke_api_key("acme", key_id)
    assert registry.organization_for_api_key(key) is None
    with pytest.raises(RegistryError):
        registry.revoke_api_key("acme", key_id)


def test_a_legacy_group_key_binds_to_one_organization(any_store: Store) -> None:
    registry = OrganizationRegistry(any_store, cache_seconds=0)
    registry.create("acme", legacy_group_keys=("GK-acme",))
    registry.create("globex")
    assert registry.organization_for_group_key("GK-acme") == "acme"
    assert registry.organization_for_group_key("GK-unknown") is None
    with pytest.raises(RegistryError, match="another organization"):
        registry.add_legacy_group_key("globex", "GK-acme")
    assert registry.organization_for_group_key("GK-acme") == "acme"
    with pytest.raises(RegistryError, match="unknown organization"):
        registry.add_legacy_group_key("nobody", "GK-2")


def test_legacy_group_keys_are_stored_only_as_hashes(any_store: Store) -> None:
    registry = OrganizationRegistry(any_store, cache_seconds=0)
    registry.create("acme", legacy_group_keys=("GK-acme-first",))
    registry.add_legacy_group_key("acme", "GK-acme-second")
    assert registry.organization_for_group_key("GK-acme-second") == "acme"
    assert registry.require("acme").legacy_group_key_hashes == [sha256_hex("GK-acme-first"),
                                                               sha256_hex("GK-acme-second")]
    assert b"GK-acme" not in b"".join(any_store.get(key) for key in any_store.list(""))


def test_plaintext_group_keys_of_an_earlier_version_keep_working_and_are_hashed(any_store: Store) -> None:
    # What an earlier version wrote: the key in its organization's record, beside the lookup object.
    registry = OrganizationRegistry(any_store, cache_seconds=0)
    registry.create("acme")
    record = json.loads(any_store.get("config/organizations/acme.json"))
    del record["legacy_group_key_hashes"]
    record["legacy_group_keys"] = ["GK-old"]
    any_store.put("config/organizations/acme.json", json.dumps(record).encode())
    any_store.put(f"config/legacy-group-keys/{sha256_hex('GK-old')}.json", b'{"organization_id": "acme"}')

    assert registry.organization_for_group_key("GK-old") == "acme"  # the legacy endpoint takes it
    assert registry.require("acme").legacy_group_key_hashes == [sha256_hex("GK-old")]  # read as its hash
    registry.add_legacy_group_key("acme", "GK-old")  # already bound
    assert list(audit.list_records(any_store, action="org.legacy_group_key_added")) == []
    assert registry.hash_legacy_group_keys() == 1
    assert b"GK-old" not in any_store.get("config/organizations/acme.json")
    assert registry.hash_legacy_group_keys() == 0
    assert registry.organization_for_group_key("GK-old") == "acme"
    assert registry.require("acme").legacy_group_key_hashes == [sha256_hex("GK-old")]


def test_lookups_of_unknown_group_keys_use_bounded_memory(tmp_path: Path) -> None:
    # The legacy endpoint is open to anyone: each made-up key must not stay in memory for good.
    registry = OrganizationRegistry(LocalStore(tmp_path), cache_seconds=3600)
    registry.create("acme", legacy_group_keys=("GK-acme",))
    for n in range(10_050):
        assert registry.organization_for_group_key(f"made-up-{n}") is None
    assert len(registry._group_keys._cache) <= 10_000
    assert registry.organization_for_group_key("GK-acme") == "acme"


def test_attachments_resolve_to_their_organization(any_store: Store) -> None:
    registry = OrganizationRegistry(any_store)
    registry.create("acme")
    registry.register_attachment(Attachment(attachment_code="ZX81-ab/c", organization_id="acme",
                                            project_id="pensions", template_id="t1"))
    found = registry.attachment("ZX81-ab/c")
    assert found is not None and (found.organization_id, found.project_id) == ("acme", "pensions")
    assert registry.attachment("unknown") is None
    with pytest.raises(RegistryError):
        registry.register_attachment(Attachment(attachment_code="x", organization_id="nobody",
                                                project_id="p"))


def test_tracking_defaults_round_trip_and_an_old_record_has_the_built_in_ones(any_store: Store) -> None:
    registry = OrganizationRegistry(any_store)
    registry.create("acme")
    registry.register_attachment(Attachment(attachment_code="IV-1", organization_id="acme", project_id="p",
                                            tracking=True, consent_required=False))
    found = registry.attachment("IV-1")
    assert found is not None and (found.tracking, found.consent_required) == (True, False)
    # A record stored before the defaults existed: tracking off, consent required, as pages behaved.
    old_record = {"attachment_code": "IV-old", "organization_id": "acme", "project_id": "p",
                  "template_id": None}
    any_store.put(f"{layout.ATTACHMENTS.prefix}{sha256_hex('IV-old')}.json", json.dumps(old_record).encode())
    old = registry.attachment("IV-old")
    assert old is not None and (old.tracking, old.consent_required) == (False, True)
