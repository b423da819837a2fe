"""Organizations and what hangs off them: settings, reporting API keys, Individeo bindings.

Kept as small JSON objects in the store under `config/` — a local directory on the embedded default,
S3 on AWS — so every process (gateway, CLI, Lambdas) sees the same registry without a database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from pipeline import audit
from pipeline.layout import check_slug
from pipeline.store.base import Store

_ORGS = "config/organizations/"
_GROUP_KEYS = "config/legacy-group-keys/"
_ATTACHMENTS = "config/attachments/"
_ADMIN_KEYS = "config/admin-keys/"
API_KEY_PREFIX = "pk"
ADMIN_KEY_PREFIX = "pka"
_KEY_ID = re.compile(r"^[0-9a-f]{8}$")


class ApiKey(BaseModel):
    key_id: str
    sha256: str  # the key itself is shown once and never stored
    created_at: datetime
    revoked_at: datetime | None = None


class Digest(BaseModel):
    enabled: bool = False
    recipients: list[str] = Field(default_factory=list)


class Organization(BaseModel):
    organization_id: str
    created_at: datetime
    retention_days: int | None = Field(default=None, ge=1)  # None: the zone defaults
    salt: str  # ships to the player for viewer_hash; rotated with the salt epoch
    legacy_group_keys: list[str] = Field(default_factory=list)
    digest: Digest = Field(default_factory=Digest)
    api_keys: list[ApiKey] = Field(default_factory=list)


class Attachment(BaseModel):
    """An Individeo attachment code made resolvable by the compat script."""

    attachment_code: str
    organization_id: str
    project_id: str
    template_id: str | None = None


class RegistryError(ValueError):
    """A registry request that cannot be honoured (unknown organization, key already bound, …)."""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def key_id_of(key: str) -> str | None:
    """The public id part of an organization or admin key (for audit records), None if malformed."""
    parts = key.split("_", 2)
    if len(parts) == 3 and parts[0] in (API_KEY_PREFIX, ADMIN_KEY_PREFIX) and _KEY_ID.match(parts[1]):
        return parts[1]
    return None


class OrganizationRegistry:
    def __init__(self, store: Store, *, cache_seconds: float = 30.0, actor: str | None = None) -> None:
        self.store = store
        self.actor = actor  # who changes settings and keys, for the audit log
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    # -- organizations -------------------------------------------------------------------------

    def create(self, org: str, *, retention_days: int | None = None,
               legacy_group_keys: tuple[str, ...] = ()) -> Organization:
        check_slug(org, "organization")
        if self.get(org) is not None:
            raise RegistryError(f"organization {org!r} already exists")
        record = Organization(organization_id=org, created_at=_now(), retention_days=retention_days,
                              salt=secrets.token_hex(16))
        self._save(record)
        self._audit("org.created", org, {"retention_days": retention_days})
        for key in legacy_group_keys:
            self.add_legacy_group_key(org, key)
        return self.require(org)

    def get(self, org: str) -> Organization | None:
        try:
            return Organization.model_validate_json(self.store.get(f"{_ORGS}{check_slug(org)}.json"))
        except KeyError:
            return None

    def require(self, org: str) -> Organization:
        record = self.get(org)
        if record is None:
            raise RegistryError(f"unknown organization {org!r}: create it with `percus org create {org}`")
        return record

    def list(self) -> list[Organization]:
        return [Organization.model_validate_json(self.store.get(key)) for key in self.store.list(_ORGS)]

    def update(self, org: str, *, retention_days: int | None = None) -> Organization:
        before = self.require(org)
        record = before.model_copy(update={"retention_days": retention_days})
        self._save(record)
        self._audit("org.settings_changed", org, {"retention_days": retention_days,
                                                  "previous_retention_days": before.retention_days})
        return record

    def _audit(self, action: str, org: str, details: dict[str, object]) -> None:
        audit.record(self.store, action, {"organization_id": org}, details, actor=self.actor)

    def _save(self, record: Organization) -> None:
        self.store.put(f"{_ORGS}{record.organization_id}.json", record.model_dump_json(indent=2).encode())

    # -- reporting API keys ----------------------------------------------------------------------

    def create_api_key(self, org: str) -> str:
        """A new key for `org`, returned once: only its SHA-256 is kept."""
        record = self.require(org)
        key_id = secrets.token_hex(4)
        # Hex parts keep the split unambiguous; the organization comes last because ids may hold '_'.
        key = f"{API_KEY_PREFIX}_{key_id}_{secrets.token_hex(24)}_{org}"
        record.api_keys.append(ApiKey(key_id=key_id, sha256=_digest(key), created_at=_now()))
        self._save(record)
        self._audit("org.api_key_created", org, {"key_id": key_id})
        return key

    def revoke_api_key(self, org: str, key_id: str) -> None:
        record = self.require(org)
        for key in record.api_keys:
            if key.key_id == key_id and key.revoked_at is None:
                key.revoked_at = _now()
                self._save(record)
                self._audit("org.api_key_revoked", org, {"key_id": key_id})
                return
        raise RegistryError(f"organization {org!r} has no active key {key_id!r}")

    def organization_for_api_key(self, key: str) -> str | None:
        """The organization a presented key belongs to, or None (unknown, malformed or revoked)."""
        parts = key.split("_", 3)
        if len(parts) != 4 or parts[0] != API_KEY_PREFIX:
            return None
        key_id, org = parts[1], parts[3]
        try:
            record = self.get(org)
        except ValueError:
            return None
        if record is None:
            return None
        presented = _digest(key)
        for stored in record.api_keys:
            if stored.key_id == key_id and hmac.compare_digest(stored.sha256, presented):
                return org if stored.revoked_at is None else None
        return None

    def api_key_active(self, org: str, key_id: str) -> bool:
        """Whether `org` still has the unrevoked key `key_id` (a dashboard session re-checks it)."""
        record = self.get(org)
        return record is not None and any(key.key_id == key_id and key.revoked_at is None
                                          for key in record.api_keys)

    # -- admin keys (the Percus team: every organization's reports) -----------------------------

    def create_admin_key(self) -> str:
        """A new admin key, returned once: only its SHA-256 is kept, one object per key."""
        key_id = secrets.token_hex(4)
        key = f"{ADMIN_KEY_PREFIX}_{key_id}_{secrets.token_hex(24)}"
        record = ApiKey(key_id=key_id, sha256=_digest(key), created_at=_now())
        self.store.put(f"{_ADMIN_KEYS}{key_id}.json", record.model_dump_json(indent=2).encode())
        audit.record(self.store, "admin.key_created", {"key_id": key_id}, {}, actor=self.actor)
        return key

    def revoke_admin_key(self, key_id: str) -> None:
        record = self._admin_key(key_id)
        if record is None or record.revoked_at is not None:
            raise RegistryError(f"there is no active admin key {key_id!r}")
        record.revoked_at = _now()
        self.store.put(f"{_ADMIN_KEYS}{key_id}.json", record.model_dump_json(indent=2).encode())
        audit.record(self.store, "admin.key_revoked", {"key_id": key_id}, {}, actor=self.actor)

    def is_admin_key(self, key: str) -> bool:
        """Whether a presented key is an unrevoked admin key."""
        parts = key.split("_")
        if len(parts) != 3 or parts[0] != ADMIN_KEY_PREFIX or not _KEY_ID.match(parts[1]):
            return False
        record = self._admin_key(parts[1])
        return (record is not None and record.revoked_at is None
                and hmac.compare_digest(record.sha256, _digest(key)))

    def admin_key_active(self, key_id: str) -> bool:
        record = self._admin_key(key_id) if _KEY_ID.match(key_id) else None
        return record is not None and record.revoked_at is None

    def _admin_key(self, key_id: str) -> ApiKey | None:
        try:
            return ApiKey.model_validate_json(self.store.get(f"{_ADMIN_KEYS}{key_id}.json"))
        except KeyError:
            return None

    # -- Individeo bindings ----------------------------------------------------------------------

    def add_legacy_group_key(self, org: str, group_key: str) -> None:
        """Bind an Individeo trackerGroupKey to `org`; a key binds to one organization only."""
        record = self.require(org)
        if not group_key or len(group_key) > 256:
            raise RegistryError("a legacy group key is 1-256 characters")
        index = f"{_GROUP_KEYS}{_digest(group_key)}.json"
        owner = self._legacy_owner(group_key, cached=False)
        if owner not in (None, org):
            raise RegistryError("that legacy group key is already bound to another organization")
        self.store.put(index, json.dumps({"organization_id": org}).encode())
        if group_key not in record.legacy_group_keys:
            record.legacy_group_keys.append(group_key)
            self._save(record)

    def organization_for_group_key(self, group_key: str) -> str | None:
        return self._legacy_owner(group_key, cached=True)

    def _legacy_owner(self, group_key: str, *, cached: bool) -> str | None:
        index = f"{_GROUP_KEYS}{_digest(group_key)}.json"
        if cached:
            with self._lock:
                hit = self._cache.get(index)
            if hit and hit[0] > time.monotonic():
                return hit[1]
        try:
            owner: str | None = json.loads(self.store.get(index))["organization_id"]
        except KeyError:
            owner = None
        with self._lock:
            self._cache[index] = (time.monotonic() + self._cache_seconds, owner)
        return owner

    def register_attachment(self, attachment: Attachment) -> None:
        self.require(attachment.organization_id)
        check_slug(attachment.project_id, "project")
        self.store.put(f"{_ATTACHMENTS}{_digest(attachment.attachment_code)}.json",
                       attachment.model_dump_json().encode())

    def attachment(self, attachment_code: str) -> Attachment | None:
        try:
            data = self.store.get(f"{_ATTACHMENTS}{_digest(attachment_code)}.json")
        except KeyError:
            return None
        return Attachment.model_validate_json(data)
