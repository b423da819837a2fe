"""An organization's webhook settings (kept in its record): the endpoint, which events it gets and
the secret that signs them. Delivery is pipeline/webhooks/."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from pipeline.governance.registry.models import Organization, RegistryError, Webhook
from pipeline.governance.registry.organizations import Organizations
from pipeline.webhooks.addresses import RefusedAddress, is_loopback_host, resolve

WEBHOOK_SECRET_PREFIX = "whsec_"
WEBHOOK_SECRET_OVERLAP = timedelta(hours=24)  # a rotated-out secret keeps signing this long


def check_webhook_url(url: str, *, allow_loopback: bool = False) -> str:
    """A webhook endpoint: http(s) with a host that is, and resolves to, public addresses only
    (pipeline/webhooks/addresses.py), or loopback ones with `allow_loopback`; https unless the host is
    loopback. A name that does not resolve yet is taken: delivery checks what it resolves to then."""
    if len(url) > 2048:
        raise RegistryError("a webhook URL is at most 2048 characters")
    if any(char.isspace() or ord(char) < 32 for char in url):
        raise RegistryError(f"webhook URL {url!r} holds whitespace or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (80 if parts.scheme == "http" else 443)  # raises on a port that is no number
    except ValueError as exc:
        raise RegistryError(f"webhook URL {url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise RegistryError(f"a webhook URL must start with https:// (or http:// for a loopback host): "
                            f"{url!r}")
    if not host:
        raise RegistryError(f"webhook URL {url!r} has no host")
    try:
        resolve(host, port, allow_loopback=allow_loopback)
    except RefusedAddress as exc:
        hint = (" (--allow-loopback lets it reach a loopback receiver, for tests and local use)"
                if exc.kind == "loopback" else "")
        raise RegistryError(f"a webhook URL must point at a public address: {exc}{hint}") from None
    except OSError:
        pass  # no address yet: delivery resolves the name, and checks it, each time it connects
    if parts.scheme == "http" and not is_loopback_host(host):
        raise RegistryError(f"a webhook URL must use https://; http:// is only for loopback hosts "
                            f"(127.0.0.1, ::1, localhost), not {host!r}")
    return url


def webhook_host(url: str) -> str:
    """What logs and audit records name of an endpoint: its host (a path or query may hold a token)."""
    return urlsplit(url).hostname or "?"


class WebhookSettings:
    """Sets, pauses and re-keys the endpoint; every change is audited as a settings change."""

    def __init__(self, organizations: Organizations) -> None:
        self._organizations = organizations

    def set(self, org: str, url: str, *, rotate_secret: bool = False, since: datetime | None = None,
            allow_loopback: bool = False) -> str | None:
        """Point `org`'s webhook at `url` and enable it; returns the signing secret when one is made
        (the first time, or with `rotate_secret`), None when the current one stays.

        Events received from `since` on are delivered: by default from now when the webhook is new or
        was disabled, else from where it was; an earlier `since` replays the events in between that
        were not sent yet (each event is sent once, whatever `since` says). `allow_loopback` lets it
        reach a loopback address (tests, local receivers); it goes with this URL, and a new URL set
        without it reaches public addresses only.
        """
        check_webhook_url(url, allow_loopback=allow_loopback)
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        record = self._organizations.require(org)
        before, now = record.webhook, datetime.now(UTC)
        if before is None:
            first_secret = _new_secret()
            self._save(record, Webhook(url=url, allow_loopback=allow_loopback, secret=first_secret,
                                       since=since or now))
            return first_secret
        if since is None:
            since = before.since if before.enabled else now  # a paused endpoint gets nothing of the pause
        webhook = before.model_copy(update={"url": url, "allow_loopback": allow_loopback, "enabled": True,
                                            "since": since})
        secret = None
        if rotate_secret:
            webhook, secret = _rotated(webhook, now)
        self._save(record, webhook)
        return secret

    def rotate_secret(self, org: str) -> str:
        """A new signing secret, returned once; the old one also signs for WEBHOOK_SECRET_OVERLAP."""
        record = self._organizations.require(org)
        if record.webhook is None:
            raise RegistryError(f"organization {org!r} has no webhook: set one with --url")
        webhook, secret = _rotated(record.webhook, datetime.now(UTC))
        self._save(record, webhook)
        return secret

    def disable(self, org: str) -> None:
        """Stop delivering (what is waiting stays in the outbox, for when it is enabled again)."""
        record = self._organizations.require(org)
        if record.webhook is None or not record.webhook.enabled:
            raise RegistryError(f"organization {org!r} has no enabled webhook")
        self._save(record, record.webhook.model_copy(update={"enabled": False}))

    def _save(self, record: Organization, webhook: Webhook) -> None:
        self._organizations.change(record, {"webhook": webhook}, _audit_details(record.webhook, webhook))


def _new_secret() -> str:
    return WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)


def _rotated(webhook: Webhook, now: datetime) -> tuple[Webhook, str]:
    secret = _new_secret()
    return webhook.model_copy(update={"secret": secret, "previous_secret": webhook.secret,
                                      "previous_secret_expires_at": now + WEBHOOK_SECRET_OVERLAP}), secret


def _audit_details(before: Webhook | None, after: Webhook) -> dict[str, object]:
    """What changed and the host, never the secret or the URL (its path or query may hold a token)."""
    changed = []
    if before is None:
        changed.append("created")
    else:
        if before.enabled != after.enabled:
            changed.append("enabled" if after.enabled else "disabled")
        if before.url != after.url:
            changed.append("url_changed")
        if before.allow_loopback != after.allow_loopback:
            changed.append("allow_loopback_changed")
        if before.secret != after.secret:
            changed.append("secret_rotated")
        if before.since != after.since:
            changed.append("since_changed")
    return {"webhook": changed, "webhook_host": webhook_host(after.url), "webhook_enabled": after.enabled,
            "webhook_allow_loopback": after.allow_loopback, "webhook_since": after.since.isoformat()}
