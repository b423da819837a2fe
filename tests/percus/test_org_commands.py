"""`percus org set`, `percus token issue` against the registry, and the audit records of
`org create --legacy-group-key` and `legacy register`: each change recorded, no group key or
attachment code in any record."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.player import derived_salt
from gateway.tokens import TokenVerifier
from pipeline.config import load_settings
from pipeline.governance.registry import OrganizationRegistry
from pipeline.store.local import LocalStore
from tests.percus._cli import run


def records(capsys: pytest.CaptureFixture[str], *filters: str) -> list[dict[str, Any]]:
    code, out, _ = run(capsys, "audit", "list", *filters)
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


def audit_bytes(data_dir: Path) -> bytes:
    store = LocalStore(data_dir / "bucket")
    return b"".join(store.get(key) for key in store.list("audit/"))


def test_org_set_changes_and_clears_the_retention_override(data_dir: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "org", "create", "acme", "--legacy-group-key", "GK-acme")[0] == 0
    assert run(capsys, "org", "set", "acme", "--retention-days", "30") == (
        0, "retention of 'acme': 30 days (was the zones' defaults)\n", "")
    registry = OrganizationRegistry(LocalStore(data_dir / "bucket"))
    assert registry.require("acme").retention_days == 30
    assert run(capsys, "org", "set", "acme", "--no-retention-override") == (
        0, "retention of 'acme': the zones' defaults (was 30 days)\n", "")
    after = registry.require("acme")
    assert after.retention_days is None and after.legacy_group_key_hashes == [  # the rest as it was
        hashlib.sha256(b"GK-acme").hexdigest()]
    changes = records(capsys, "--org", "acme", "--action", "org.settings_changed")
    assert sorted((r["details"]["retention_days"], r["details"]["previous_retention_days"] or 0)
                  for r in changes if r["details"]["retention_days"]) == [(30, 0)]
    assert [r["details"] for r in changes if not r["details"]["retention_days"]] == [
        {"retention_days": None, "previous_retention_days": 30}]
    assert {r["actor"] for r in changes} == {records(capsys, "--action", "org.created")[0]["actor"]}


def test_org_set_changes_the_value_policy_audited_and_org_show_prints_every_setting(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "org", "create", "acme", "--retention-days", "30",
               "--legacy-group-key", "GK-1")[0] == 0
    assert run(capsys, "org", "set", "acme", "--value-policy", "hash") == (
        0, "value policy of 'acme': hash (was store)\n", "")
    assert run(capsys, "org", "set", "acme", "--value-policy", "drop", "--retention-days", "7") == (
        0, "retention of 'acme': 7 days (was 30 days)\nvalue policy of 'acme': drop (was hash)\n", "")
    code, _, err = run(capsys, "org", "set", "acme")
    assert code != 0 and "--value-policy" in err
    assert run(capsys, "org", "set", "acme", "--value-policy", "keep")[0] != 0
    changes = [r["details"] for r in records(capsys, "--org", "acme", "--action", "org.settings_changed")]
    assert sorted(changes, key=len) == [
        {"value_policy": "hash", "previous_value_policy": "store"},
        {"retention_days": 7, "previous_retention_days": 30, "value_policy": "drop",
         "previous_value_policy": "hash"}]

    run(capsys, "org", "digest", "acme", "--digest-to", "ops@example.com")
    secret = run(capsys, "org", "webhook", "acme", "--url", "http://127.0.0.1:9/hook", "--allow-loopback")[1]
    key = run(capsys, "org", "key", "acme")[1].strip()
    registry = OrganizationRegistry(LocalStore(data_dir / "bucket"))
    org = registry.require("acme")
    code, out, _ = run(capsys, "org", "show", "acme")
    assert code == 0
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert lines["organization"] == "acme"
    assert lines["retention"] == "7 days"
    assert lines["value policy"] == "drop"
    assert lines["salt"] == f"{org.salt[:4]}…"
    assert lines["digest"] == "enabled, 1 recipient(s): ops@example.com"
    assert lines["webhook"].startswith("http://127.0.0.1:9/hook (enabled, loopback allowed")
    assert lines["reporting API keys"].startswith(f"{org.api_keys[0].key_id} (created ")
    assert lines["legacy group keys"] == "1"
    for hidden in (secret.strip(), key, org.salt, "GK-1"):
        assert hidden not in out


def test_a_command_rewrites_the_group_keys_an_earlier_version_stored_in_plaintext(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "org", "create", "acme")[0] == 0
    store = LocalStore(data_dir / "bucket")
    key = "config/organizations/acme.json"
    store.put(key, json.dumps({**json.loads(store.get(key)), "legacy_group_keys": ["GK-old"]}).encode())
    assert run(capsys, "org", "digest", "acme")[0] == 0  # any command that opens the registry
    assert b"GK-old" not in store.get(key)


def test_org_create_records_each_legacy_group_key_by_count(data_dir: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "org", "create", "acme", "--legacy-group-key", "GK-SECRET-1",
                       "--legacy-group-key", "GK-SECRET-2")
    assert code == 0 and out == "created organization 'acme', legacy group keys: 2\n"
    added = records(capsys, "--org", "acme", "--action", "org.legacy_group_key_added")
    assert sorted(r["details"]["legacy_group_keys"] for r in added) == [1, 2]
    assert all(str(r["actor"]).startswith("cli") for r in added)
    assert b"GK-SECRET" not in audit_bytes(data_dir)


def test_legacy_register_is_recorded_without_the_attachment_code(data_dir: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "org", "create", "acme")[0] == 0
    code, out, _ = run(capsys, "legacy", "register", "--org", "acme", "--project", "onboarding",
                       "--attachment-code", "IV-ATTACH-7731", "--template", "welcome")
    assert code == 0 and out == ("attachment 'IV-ATTACH-7731' → acme/onboarding (tracking off, consent "
                                 "required where the page is silent)\n")
    (record,) = records(capsys, "--org", "acme", "--action", "legacy")
    assert record["action"] == "legacy.attachment_registered"
    assert record["details"] == {"attachment_sha256": record["details"]["attachment_sha256"],
                                 "project_id": "onboarding", "template_id": "welcome", "tracking": False,
                                 "consent_required": True, "replaced": False,
                                 "previous_organization_id": None}
    assert b"IV-ATTACH-7731" not in audit_bytes(data_dir)


def test_legacy_register_stores_the_operators_tracking_defaults(data_dir: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "org", "create", "acme")[0] == 0
    code, out, _ = run(capsys, "legacy", "register", "--org", "acme", "--project", "onboarding",
                       "--attachment-code", "IV-7", "--tracking", "--no-consent-required")
    assert code == 0 and out.endswith("(tracking on, consent not required where the page is silent)\n")
    found = OrganizationRegistry(LocalStore(data_dir / "bucket")).attachment("IV-7")
    assert found is not None and (found.tracking, found.consent_required) == (True, False)
    (record,) = records(capsys, "--org", "acme", "--action", "legacy")
    assert (record["details"]["tracking"], record["details"]["consent_required"]) == (True, False)
    # Registered again without the options: back to today's defaults.
    assert run(capsys, "legacy", "register", "--org", "acme", "--project", "onboarding",
               "--attachment-code", "IV-7", "--no-tracking")[0] == 0
    found = OrganizationRegistry(LocalStore(data_dir / "bucket")).attachment("IV-7")
    assert found is not None and (found.tracking, found.consent_required) == (False, True)


def test_token_issue_warns_of_an_unregistered_organization_and_still_issues(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "token", "issue", "--org", "acmee", "--project", "p1")
    assert code == 0 and "'acmee' is not registered" in err and "percus org create acmee" in err
    assert TokenVerifier(load_settings().token_keys).verify(out.strip()).organization_id == "acmee"
    run(capsys, "org", "create", "acme")
    code, out, err = run(capsys, "token", "issue", "--org", "acme", "--project", "p1")
    assert code == 0 and out.strip() and err == ""


def test_an_id_with_a_trailing_newline_is_refused_and_nothing_is_created(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "org", "create", "trail\n")
    assert code != 0 and "trail" in err
    assert [path for path in data_dir.rglob("*") if "trail" in path.name] == []


def test_org_list_and_key_list_show_what_revoke_needs(data_dir: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "org", "list") == (0, "(none)\n", "")
    run(capsys, "org", "create", "globex")
    run(capsys, "org", "create", "acme", "--retention-days", "30")
    first = run(capsys, "org", "key", "acme")[1].strip()
    run(capsys, "org", "key", "acme")
    header, acme, globex = run(capsys, "org", "list")[1].splitlines()
    assert header.split() == ["Organization", "Created", "Retention", "Value", "policy", "API", "keys",
                              "Digest", "Webhook"]  # headers and units: pipeline/reporting/formatting.py
    assert acme.split()[0] == "acme" and acme.split()[2:] == ["30", "days", "store", "2", "no", "no"]
    assert globex.split()[2:] == ["–", "store", "0", "no", "no"]
    listed = json.loads(run(capsys, "org", "list", "--format", "json")[1])
    assert [(org["organization_id"], org["active_api_keys"]) for org in listed] == [
        ("acme", 2), ("globex", 0)]

    keys = json.loads(run(capsys, "org", "key", "acme", "--list", "--format", "json")[1])
    assert len(keys) == 2 and all(key["revoked_at"] is None for key in keys)
    first_id = next(key["key_id"] for key in keys if first.startswith(f"pk_{key['key_id']}"))
    assert run(capsys, "org", "key", "acme", "--revoke", first_id)[0] == 0
    table = run(capsys, "org", "key", "acme", "--list")[1].splitlines()
    assert table[0].split() == ["Key", "id", "Created", "Revoked"]
    revoked = next(line for line in table if line.startswith(first_id))
    assert not revoked.endswith("–")  # a date, where the other key has none
    assert sum(line.rstrip().endswith("–") for line in table[1:]) == 1


def test_viewer_hash_is_the_one_the_player_makes_the_sdk_compute(data_dir: Path,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    run(capsys, "org", "create", "acme")
    salt = OrganizationRegistry(LocalStore(data_dir / "bucket")).require("acme").salt
    expected = hashlib.sha256(f"acme:CRM-4711:{salt}".encode()).hexdigest()
    assert run(capsys, "viewer-hash", "--org", "acme", "--recipient-code", "CRM-4711") == (
        0, expected + "\n", "")
    monkeypatch.setattr("sys.stdin", io.StringIO("CRM-4711\n"))
    assert run(capsys, "viewer-hash", "--org", "acme", "--recipient-code", "-")[1] == expected + "\n"
    # An organization not created yet: the salt the player derives for it.
    derived = derived_salt(load_settings(), "globex")
    printed = run(capsys, "viewer-hash", "--org", "globex", "--recipient-code", "X")[1].strip()
    assert printed == hashlib.sha256(f"globex:X:{derived}".encode()).hexdigest()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert run(capsys, "viewer-hash", "--org", "acme", "--recipient-code", "-") == (
        2, "", "percus: error: the recipient code is empty\n")
