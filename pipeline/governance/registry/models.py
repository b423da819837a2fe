"""The records the registry keeps as JSON objects in the store's config areas (field order is the
stored format), the error it raises, and the SHA-256 that stands in them for a secret."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.governance.value_policy import ValuePolicy


class RegistryError(ValueError):
    """A registry request that cannot be honoured (unknown organization, key already bound, …)."""


PLAINTEXT_GROUP_KEYS = "legacy_group_keys"  # the field of the keys themselves, before they were hashed


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class _Record(BaseModel):
    # Built when first read, not at import: the ingest Lambda imports the registry, reads an organization
    # on its first event and never reads a key, a webhook or an attachment (bench/coldstart.py).
    model_config = ConfigDict(defer_build=True)


class ApiKey(_Record):
    key_id: str
    sha256: str  # the key itself is shown once and never stored
    created_at: datetime
    revoked_at: datetime | None = None

    def matches(self, key: str) -> bool:
        return hmac.compare_digest(self.sha256, sha256_hex(key))


class Digest(_Record):
    enabled: bool = False
    recipients: list[str] = Field(default_factory=list)


class Webhook(_Record):
    """Where the organization's events are POSTed (pipeline/webhooks/) and the key that signs them.

    The secret is kept as is (an HMAC needs it) and shown once, when it is made."""

    url: str
    allow_loopback: bool = False  # it may reach a loopback address (tests, local receivers); no other
    secret: str
    enabled: bool = True
    since: datetime  # events received from then on are delivered (reset when re-enabled)
    previous_secret: str | None = None  # still signs too until previous_secret_expires_at
    previous_secret_expires_at: datetime | None = None


class Organization(_Record):
    organization_id: str
    created_at: datetime
    retention_days: int | None = Field(default=None, ge=1)  # None: the zone defaults
    value_policy: ValuePolicy = "store"  # what is stored of cta_value and interaction_value
    salt: str  # ships to the player for viewer_hash; rotated with the salt epoch
    # The SHA-256 of each legacy group key bound to it: a key is a credential, never stored.
    legacy_group_key_hashes: list[str] = Field(default_factory=list)
    digest: Digest = Field(default_factory=Digest)
    api_keys: list[ApiKey] = Field(default_factory=list)
    webhook: Webhook | None = None

    @model_validator(mode="before")
    @classmethod
    def _hash_plaintext_group_keys(cls, data: Any) -> Any:
        """Earlier versions stored the keys themselves, as `legacy_group_keys`: such a record reads
        as their hashes, and is rewritten so (GroupKeys.hash_plaintext)."""
        if isinstance(data, dict) and PLAINTEXT_GROUP_KEYS in data:
            data = dict(data)
            hashes = list(data.get("legacy_group_key_hashes") or [])
            for key in data.pop(PLAINTEXT_GROUP_KEYS) or []:
                if (digest := sha256_hex(key)) not in hashes:
                    hashes.append(digest)
            data["legacy_group_key_hashes"] = hashes
        return data


class Attachment(_Record):
    """An Individeo attachment code made resolvable by the compat script."""

    attachment_code: str
    organization_id: str
    project_id: str
    template_id: str | None = None
    # What Individeo's account configured: the compat script applies them where the page is silent.
    # A record stored before them loads with these defaults, as the page behaved then.
    tracking: bool = False
    consent_required: bool = True
