"""Reporting API keys: an organization's (`pk_<id>_<secret>_<org>`, kept in its record) and the
Percus team's admin keys (`pka_<id>_<secret>`, one object each under `config/admin-keys/`). A key is
shown once; only its SHA-256 is stored."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from pipeline import layout
from pipeline.governance import audit
from pipeline.governance.registry.models import ApiKey, RegistryError, sha256_hex
from pipeline.governance.registry.organizations import Organizations
from pipeline.store.base import Store

API_KEY_PREFIX = "pk"
ADMIN_KEY_PREFIX = "pka"
_ADMIN_KEYS = layout.ADMIN_KEYS.prefix
_KEY_ID = re.compile(r"^[0-9a-f]{8}$")


def key_id_of(key: str) -> str | None:
    """The public id part of an organization or admin key (for audit records), None if malformed."""
    parts = key.split("_", 2)
    if len(parts) == 3 and parts[0] in (API_KEY_PREFIX, ADMIN_KEY_PREFIX) and _KEY_ID.fullmatch(parts[1]):
        return parts[1]
    return None


def _issued(prefix: str, *suffix: str) -> tuple[str, ApiKey]:
    """A new key and the record that stands for it."""
    key_id = secrets.token_hex(4)
    # Hex parts keep the split unambiguous; an organization comes last because ids may hold '_'.
    key = "_".join((prefix, key_id, secrets.token_hex(24), *suffix))
    return key, ApiKey(key_id=key_id, sha256=sha256_hex(key), created_at=datetime.now(UTC))


class ApiKeys:
    """An organization's keys: they open its own reports."""

    def __init__(self, organizations: Organizations) -> None:
        self._organizations = organizations

    def create(self, org: str) -> str:
        record = self._organizations.require(org)
        key, stored = _issued(API_KEY_PREFIX, org)
        record.api_keys.append(stored)
        self._organizations.save(record)
        self._organizations.audit("org.api_key_created", org, {"key_id": stored.key_id})
        return key

    def revoke(self, org: str, key_id: str) -> None:
        record = self._organizations.require(org)
        for key in record.api_keys:
            if key.key_id == key_id and key.revoked_at is None:
                key.revoked_at = datetime.now(UTC)
                self._organizations.save(record)
                self._organizations.audit("org.api_key_revoked", org, {"key_id": key_id})
                return
        raise RegistryError(f"organization {org!r} has no active key {key_id!r}")

    def organization_for(self, key: str) -> str | None:
        """The organization a presented key belongs to, or None (unknown, malformed or revoked)."""
        parts = key.split("_", 3)
        if len(parts) != 4 or parts[0] != API_KEY_PREFIX:
            return None
        key_id, org = parts[1], parts[3]
        try:
            record = self._organizations.get(org)
        except ValueError:
            return None
        if record is None:
            return None
        for stored in record.api_keys:
            if stored.key_id == key_id and stored.matches(key):
                return org if stored.revoked_at is None else None
        return None

    def active(self, org: str, key_id: str) -> bool:
        """Whether `org` still has the unrevoked key `key_id` (a dashboard session re-checks it)."""
        record = self._organizations.get(org)
        return record is not None and any(key.key_id == key_id and key.revoked_at is None
                                          for key in record.api_keys)


class AdminKeys:
    """The Percus team's keys: they open every organization's reports."""

    def __init__(self, store: Store, actor: str | None) -> None:
        self._store = store
        self._actor = actor

    def create(self) -> str:
        key, record = _issued(ADMIN_KEY_PREFIX)
        self._save(record)
        audit.record(self._store, "admin.key_created", {"key_id": record.key_id}, {}, actor=self._actor)
        return key

    def revoke(self, key_id: str) -> None:
        record = self._get(key_id)
        if record is None or record.revoked_at is not None:
            raise RegistryError(f"there is no active admin key {key_id!r}")
        record.revoked_at = datetime.now(UTC)
        self._save(record)
        audit.record(self._store, "admin.key_revoked", {"key_id": key_id}, {}, actor=self._actor)

    def accepts(self, key: str) -> bool:
        """Whether a presented key is an unrevoked admin key."""
        parts = key.split("_")
        if len(parts) != 3 or parts[0] != ADMIN_KEY_PREFIX or not _KEY_ID.fullmatch(parts[1]):
            return False
        record = self._get(parts[1])
        return record is not None and record.revoked_at is None and record.matches(key)

    def active(self, key_id: str) -> bool:
        record = self._get(key_id) if _KEY_ID.fullmatch(key_id) else None
        return record is not None and record.revoked_at is None

    def _get(self, key_id: str) -> ApiKey | None:
        try:
            return ApiKey.model_validate_json(self._store.get(f"{_ADMIN_KEYS}{key_id}.json"))
        except KeyError:
            return None

    def _save(self, record: ApiKey) -> None:
        self._store.put(f"{_ADMIN_KEYS}{record.key_id}.json", record.model_dump_json(indent=2).encode())
