"""Organizations and what hangs off them: settings, reporting API keys, Individeo bindings.

Kept as small JSON objects in the store under `config/` — a local directory on the embedded default,
S3 on AWS — so every process (gateway, CLI, Lambdas) sees the same registry without a database.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from pipeline import layout
from pipeline.governance import audit
from pipeline.mail.base import MAX_RECIPIENTS, check_address
from pipeline.store.base import Store
from translator.ids import check_slug

_ORGS = layout.ORGANIZATIONS.prefix
_GROUP_KEYS = layout.LEGACY_GROUP_KEYS.prefix
_ATTACHMENTS = layout.ATTACHMENTS.prefix
_ADMIN_KEYS = layout.ADMIN_KEYS.prefix
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


class Webhook(BaseModel):
    """Where the organization's events are POSTed (pipeline/webhooks/) and the key that signs them.

    The secret is kept as is (an HMAC needs it) and shown once, when it is made."""

    url: str
    secret: str
    enabled: bool = True
    since: datetime  # events received from then on are delivered (reset when re-enabled)
    previous_secret: str | None = None  # still signs too until previous_secret_expires_at
    previous_secret_expires_at: datetime | None = None


class Organization(BaseModel):
    organization_id: str
    created_at: datetime
    retention_days: int | None = Field(default=None, ge=1)  # None: the zone defaults
    salt: str  # ships to the player for viewer_hash; rotated with the salt epoch
    legacy_group_keys: list[str] = Field(default_factory=list)
    digest: Digest = Field(default_factory=Digest)
    api_keys: list[ApiKey] = Field(default_factory=list)
    webhook: Webhook | None = None


class Attachment(BaseModel):
    """An Individeo attachment code made resolvable by the compat script."""

    attachment_code: str
    organization_id: str
    project_id: str
    template_id: str | None = None


class RegistryError(ValueError):
    """A registry request that cannot be honoured (unknown organization, key already bound, …)."""


_CACHE_MAX = 10_000  # group-key lookups remembered; far more than the keys of every customer


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


WEBHOOK_SECRET_PREFIX = "whsec_"
WEBHOOK_SECRET_OVERLAP = timedelta(hours=24)  # a rotated-out secret keeps signing this long
_KEEP: Any = object()  # update(): leave this setting as it is


def check_webhook_url(url: str) -> str:
    """A webhook endpoint: http(s) with a host, https unless the host is loopback."""
    if len(url) > 2048:
        raise RegistryError("a webhook URL is at most 2048 characters")
    if any(char.isspace() or ord(char) < 32 for char in url):
        raise RegistryError(f"webhook URL {url!r} holds whitespace or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise RegistryError(f"webhook URL {url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise RegistryError(f"a webhook URL must start with https:// (or http:// for a loopback host): "
                            f"{url!r}")
    if not host:
        raise RegistryError(f"webhook URL {url!r} has no host")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    loopback = host == "localhost" or host.endswith(".localhost") or bool(address and address.is_loopback)
    if address is not None and address.is_link_local:  # 169.254.169.254: cloud instance metadata
        raise RegistryError(f"a webhook URL cannot point at a link-local address ({host})")
    if parts.scheme == "http" and not loopback:
        raise RegistryError(f"a webhook URL must use https://; http:// is only for loopback hosts "
                            f"(127.0.0.1, ::1, localhost), not {host!r}")
    return url


def webhook_host(url: str) -> str:
    """What logs and audit records name of an endpoint: its host (a path or query may hold a token)."""
    return urlsplit(url).hostname or "?"


def key_id_of(key: str) -> str | None:
    """The public id part of an organization or admin key (for audit records), None if malformed."""
    parts = key.split("_", 2)
    if len(parts) == 3 and parts[0] in (API_KEY_PREFIX, ADMIN_KEY_PREFIX) and _KEY_ID.match(parts[1]):
        return parts[1]
    return None


def _webhook_secret() -> str:
    return WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)


def _rotated(webhook: Webhook, now: datetime) -> tuple[Webhook, str]:
    secret = _webhook_secret()
    return webhook.model_copy(update={"secret": secret, "previous_secret": webhook.secret,
                                      "previous_secret_expires_at": now + WEBHOOK_SECRET_OVERLAP}), secret


def _webhook_change(before: Webhook | None, after: Webhook | None) -> dict[str, object]:
    """Audit details of a webhook change: the host and what changed, never the secret or the URL
    (its path or query may hold a token)."""
    if after is None:
        return {"webhook": ["removed"]}
    changed = []
    if before is None:
        changed.append("created")
    else:
        if before.enabled != after.enabled:
            changed.append("enabled" if after.enabled else "disabled")
        if before.url != after.url:
            changed.append("url_changed")
        if before.secret != after.secret:
            changed.append("secret_rotated")
        if before.since != after.since:
            changed.append("since_changed")
    return {"webhook": changed, "webhook_host": webhook_host(after.url), "webhook_enabled": after.enabled,
            "webhook_since": after.since.isoformat()}


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

    def update(self, org: str, *, retention_days: int | None = _KEEP,
               webhook: Webhook | None = _KEEP, digest: Digest = _KEEP) -> Organization:
        """Change settings (those passed; None clears one) and record it in the audit log."""
        before = self.require(org)
        changes: dict[str, Any] = {}
        details: dict[str, object] = {}
        if retention_days is not _KEEP:
            if retention_days is not None and retention_days < 1:  # model_copy does not validate
                raise RegistryError(f"retention_days must be at least 1 day, got {retention_days}")
            changes["retention_days"] = retention_days
            details.update(retention_days=retention_days, previous_retention_days=before.retention_days)
        if webhook is not _KEEP:
            changes["webhook"] = webhook
            details.update(_webhook_change(before.webhook, webhook))
        if digest is not _KEEP:
            changes["digest"] = digest
            # Counts only: the recipients' addresses are personal data and stay out of the audit log.
            details.update(digest_enabled=digest.enabled, digest_recipients=len(digest.recipients),
                           previous_digest_enabled=before.digest.enabled,
                           previous_digest_recipients=len(before.digest.recipients))
        if not changes:
            return before
        record = before.model_copy(update=changes)
        self._save(record)
        self._audit("org.settings_changed", org, details)
        return record

    def set_digest(self, org: str, *, enabled: bool, recipients: builtins.list[str] | None = None
                   ) -> Digest:
        """Opt `org` in to the weekly digest (to `recipients`, or those it has) or out of it (its
        recipients are kept for when it opts in again)."""
        before = self.require(org).digest
        chosen = before.recipients if recipients is None else list(dict.fromkeys(
            check_address(address) for address in recipients))
        if enabled and not chosen:
            raise RegistryError(f"the digest of {org!r} needs a recipient: --digest-to EMAIL")
        if len(chosen) > MAX_RECIPIENTS:
            raise RegistryError(f"a digest goes to at most {MAX_RECIPIENTS} recipients, got {len(chosen)}")
        digest = Digest(enabled=enabled, recipients=chosen)
        self.update(org, digest=digest)
        return digest

    # -- webhook endpoint ------------------------------------------------------------------------

    def set_webhook(self, org: str, url: str, *, rotate_secret: bool = False,
                    since: datetime | None = None) -> str | None:
        """Point `org`'s webhook at `url` and enable it; returns the signing secret when one is made
        (the first time, or with `rotate_secret`), None when the current one stays.

        Events received from `since` on are delivered: by default from now when the webhook is new or
        was disabled, else from where it was; an earlier `since` replays the events in between that
        were not sent yet (each event is sent once, whatever `since` says).
        """
        check_webhook_url(url)
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        before = self.require(org).webhook
        now = _now()
        if before is None:
            first_secret = _webhook_secret()
            self.update(org, webhook=Webhook(url=url, secret=first_secret, since=since or now))
            return first_secret
        if since is None:
            since = before.since if before.enabled else now  # a paused endpoint gets nothing of the pause
        webhook = before.model_copy(update={"url": url, "enabled": True, "since": since})
        secret = None
        if rotate_secret:
            webhook, secret = _rotated(webhook, now)
        self.update(org, webhook=webhook)
        return secret

    def rotate_webhook_secret(self, org: str) -> str:
        """A new signing secret, returned once; the old one also signs for WEBHOOK_SECRET_OVERLAP."""
        before = self.require(org).webhook
        if before is None:
            raise RegistryError(f"organization {org!r} has no webhook: set one with --url")
        webhook, secret = _rotated(before, _now())
        self.update(org, webhook=webhook)
        return secret

    def disable_webhook(self, org: str) -> None:
        """Stop delivering (what is waiting stays in the outbox, for when it is enabled again)."""
        before = self.require(org).webhook
        if before is None or not before.enabled:
            raise RegistryError(f"organization {org!r} has no enabled webhook")
        self.update(org, webhook=before.model_copy(update={"enabled": False}))

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
            # A group key is a credential (it lets a page post for the organization): the record says
            # that one was added and how many there are, never which.
            self._audit("org.legacy_group_key_added", org,
                        {"legacy_group_keys": len(record.legacy_group_keys)})

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
            if len(self._cache) >= _CACHE_MAX:  # unknown keys come from anyone: bound what they cost
                self._cache.clear()
            self._cache[index] = (time.monotonic() + self._cache_seconds, owner)
        return owner

    def register_attachment(self, attachment: Attachment) -> None:
        self.require(attachment.organization_id)
        check_slug(attachment.project_id, "project")
        if attachment.template_id is not None:
            check_slug(attachment.template_id, "template")
        if not attachment.attachment_code or len(attachment.attachment_code) > 256:
            raise RegistryError("an attachment code is 1-256 characters")  # the endpoint looks up no longer
        index = f"{_ATTACHMENTS}{_digest(attachment.attachment_code)}.json"
        previous = self.attachment(attachment.attachment_code)
        self.store.put(index, attachment.model_dump_json().encode())
        # Named by its SHA-256 (the name of its config object), as the registry keeps it.
        self._audit("legacy.attachment_registered", attachment.organization_id, {
            "attachment_sha256": _digest(attachment.attachment_code), "project_id": attachment.project_id,
            "template_id": attachment.template_id, "replaced": previous is not None,
            "previous_organization_id": previous.organization_id if previous else None})

    def attachment(self, attachment_code: str) -> Attachment | None:
        try:
            data = self.store.get(f"{_ATTACHMENTS}{_digest(attachment_code)}.json")
        except KeyError:
            return None
        return Attachment.model_validate_json(data)
