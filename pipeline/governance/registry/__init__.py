"""The organization registry: organizations and what hangs off them (settings, webhook, reporting
and admin keys, Individeo bindings), kept as small JSON objects in the store's config areas so every
process (gateway, CLI, Lambdas) sees the same registry without a database.

`OrganizationRegistry` puts the parts over one store behind the one object callers pass around."""

from __future__ import annotations

import builtins
from datetime import datetime

from pipeline.governance.registry.keys import AdminKeys, ApiKeys, key_id_of
from pipeline.governance.registry.legacy import Attachments, GroupKeys
from pipeline.governance.registry.models import Attachment, Digest, Organization, RegistryError, Webhook
from pipeline.governance.registry.organizations import KEEP, Organizations
from pipeline.governance.registry.webhooks import WebhookSettings, check_webhook_url, webhook_host
from pipeline.governance.value_policy import ValuePolicy
from pipeline.store.base import Store

__all__ = ["Attachment", "Digest", "Organization", "OrganizationRegistry", "RegistryError", "Webhook",
           "check_webhook_url", "key_id_of", "webhook_host"]


class OrganizationRegistry:
    def __init__(self, store: Store, *, cache_seconds: float = 30.0, actor: str | None = None) -> None:
        self.store = store
        self._organizations = Organizations(store, actor)
        self._webhooks = WebhookSettings(self._organizations)
        self._api_keys = ApiKeys(self._organizations)
        self._admin_keys = AdminKeys(store, actor)
        self._group_keys = GroupKeys(self._organizations, cache_seconds)
        self._attachments = Attachments(self._organizations)

    # -- organizations -------------------------------------------------------------------------

    def create(self, org: str, *, retention_days: int | None = None,
               legacy_group_keys: tuple[str, ...] = ()) -> Organization:
        self._organizations.create(org, retention_days=retention_days)
        for key in legacy_group_keys:
            self._group_keys.add(org, key)
        return self._organizations.require(org)

    def get(self, org: str) -> Organization | None:
        return self._organizations.get(org)

    def require(self, org: str) -> Organization:
        return self._organizations.require(org)

    def list(self) -> list[Organization]:
        return self._organizations.list()

    def update(self, org: str, *, retention_days: int | None = KEEP, value_policy: ValuePolicy = KEEP
               ) -> Organization:
        return self._organizations.update(org, retention_days=retention_days, value_policy=value_policy)

    def set_digest(self, org: str, *, enabled: bool, recipients: builtins.list[str] | None = None
                   ) -> Digest:
        return self._organizations.set_digest(org, enabled=enabled, recipients=recipients)

    # -- webhook -------------------------------------------------------------------------------

    def set_webhook(self, org: str, url: str, *, rotate_secret: bool = False, since: datetime | None = None,
                    allow_loopback: bool = False) -> str | None:
        return self._webhooks.set(org, url, rotate_secret=rotate_secret, since=since,
                                  allow_loopback=allow_loopback)

    def rotate_webhook_secret(self, org: str) -> str:
        return self._webhooks.rotate_secret(org)

    def disable_webhook(self, org: str) -> None:
        self._webhooks.disable(org)

    # -- reporting keys ------------------------------------------------------------------------

    def create_api_key(self, org: str) -> str:
        return self._api_keys.create(org)

    def revoke_api_key(self, org: str, key_id: str) -> None:
        self._api_keys.revoke(org, key_id)

    def organization_for_api_key(self, key: str) -> str | None:
        return self._api_keys.organization_for(key)

    def api_key_active(self, org: str, key_id: str) -> bool:
        return self._api_keys.active(org, key_id)

    def create_admin_key(self) -> str:
        return self._admin_keys.create()

    def revoke_admin_key(self, key_id: str) -> None:
        self._admin_keys.revoke(key_id)

    def is_admin_key(self, key: str) -> bool:
        return self._admin_keys.accepts(key)

    def admin_key_active(self, key_id: str) -> bool:
        return self._admin_keys.active(key_id)

    # -- Individeo bindings --------------------------------------------------------------------

    def add_legacy_group_key(self, org: str, group_key: str) -> None:
        self._group_keys.add(org, group_key)

    def organization_for_group_key(self, group_key: str) -> str | None:
        return self._group_keys.organization_for(group_key)

    def hash_legacy_group_keys(self) -> int:
        return self._group_keys.hash_plaintext()

    def register_attachment(self, attachment: Attachment) -> None:
        self._attachments.register(attachment)

    def attachment(self, attachment_code: str) -> Attachment | None:
        return self._attachments.get(attachment_code)
