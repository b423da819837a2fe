"""The organization records (`config/organizations/{org}.json`): creation, settings and the audit
record of every change."""

from __future__ import annotations

import builtins
import secrets
from datetime import UTC, datetime
from typing import Any

from pipeline import layout
from pipeline.governance import audit
from pipeline.governance.registry.models import Digest, Organization, RegistryError
from pipeline.governance.value_policy import VALUE_POLICIES, ValuePolicy
from pipeline.mail.base import MAX_RECIPIENTS, check_address
from pipeline.store.base import Store
from translator.ids import check_slug

_ORGS = layout.ORGANIZATIONS.prefix
KEEP: Any = object()  # update(): leave this setting as it is


class Organizations:
    """Reads and writes the records; the other parts of the registry change them through it."""

    def __init__(self, store: Store, actor: str | None) -> None:
        self.store = store
        self._actor = actor  # who changes settings and keys, for the audit log

    def create(self, org: str, *, retention_days: int | None = None) -> Organization:
        check_slug(org, "organization")
        if self.get(org) is not None:
            raise RegistryError(f"organization {org!r} already exists")
        record = Organization(organization_id=org, created_at=datetime.now(UTC),
                              retention_days=retention_days, salt=secrets.token_hex(16))
        self.save(record)
        self.audit("org.created", org, {"retention_days": retention_days})
        return record

    def get(self, org: str) -> Organization | None:
        try:
            return Organization.model_validate_json(
                self.store.get(f"{_ORGS}{check_slug(org, 'organization')}.json"))
        except KeyError:
            return None

    def require(self, org: str) -> Organization:
        record = self.get(org)
        if record is None:
            raise RegistryError(f"unknown organization {org!r}: create it with `percus org create {org}`")
        return record

    def list(self) -> list[Organization]:
        return [Organization.model_validate_json(self.store.get(key)) for key in self.store.list(_ORGS)]

    def update(self, org: str, *, retention_days: int | None = KEEP, value_policy: ValuePolicy = KEEP
               ) -> Organization:
        """Change the retention override (None clears it) and the value policy; nothing given changes
        nothing."""
        before = self.require(org)
        fields: dict[str, Any] = {}
        if retention_days is not KEEP:
            if retention_days is not None and retention_days < 1:  # model_copy does not validate
                raise RegistryError(f"retention_days must be at least 1 day, got {retention_days}")
            fields["retention_days"] = retention_days
        if value_policy is not KEEP:
            if value_policy not in VALUE_POLICIES:
                raise RegistryError(f"the value policy is one of {', '.join(VALUE_POLICIES)}, "
                                    f"not {value_policy!r}")
            fields["value_policy"] = value_policy
        if not fields:
            return before
        details: dict[str, object] = {}
        for name, value in fields.items():
            details.update({name: value, f"previous_{name}": getattr(before, name)})
        return self.change(before, fields, details)

    def set_digest(self, org: str, *, enabled: bool, recipients: builtins.list[str] | None = None
                   ) -> Digest:
        """Opt `org` in to the weekly digest (to `recipients`, or those it has) or out of it (its
        recipients are kept for when it opts in again)."""
        before = self.require(org)
        chosen = before.digest.recipients if recipients is None else list(dict.fromkeys(
            check_address(address) for address in recipients))
        if enabled and not chosen:
            raise RegistryError(f"the digest of {org!r} needs a recipient: --digest-to EMAIL")
        if len(chosen) > MAX_RECIPIENTS:
            raise RegistryError(f"a digest goes to at most {MAX_RECIPIENTS} recipients, got {len(chosen)}")
        digest = Digest(enabled=enabled, recipients=chosen)
        # Counts only: the recipients' addresses are personal data and stay out of the audit log.
        self.change(before, {"digest": digest}, {
            "digest_enabled": digest.enabled, "digest_recipients": len(digest.recipients),
            "previous_digest_enabled": before.digest.enabled,
            "previous_digest_recipients": len(before.digest.recipients)})
        return digest

    def change(self, before: Organization, fields: dict[str, Any], details: dict[str, object]
               ) -> Organization:
        """Save `before` with `fields` set, audited as a settings change described by `details`."""
        record = before.model_copy(update=fields)
        self.save(record)
        self.audit("org.settings_changed", before.organization_id, details)
        return record

    def save(self, record: Organization) -> None:
        self.store.put(f"{_ORGS}{record.organization_id}.json", record.model_dump_json(indent=2).encode())

    def audit(self, action: str, org: str, details: dict[str, object]) -> None:
        audit.record(self.store, action, {"organization_id": org}, details, actor=self._actor)
