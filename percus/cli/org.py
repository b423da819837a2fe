"""`percus org …`: organizations, their reporting API keys, retention, value policy, weekly digest and
webhook."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from percus.cli import shared
from pipeline.governance.value_policy import VALUE_POLICIES
from translator.ids import check_slug

if TYPE_CHECKING:
    from percus.cli.shared import Commands
    from pipeline.store.base import Store

UNKNOWN_SHARE_DAYS = 7  # the window of `org show`'s unknown_share figure


def add(commands: Commands) -> None:
    org = shared.group(commands, "org", "organizations and their reporting API keys")
    create = shared.command(org, "create", run_create, "create an organization")
    shared.org_option(create, shortcut=True)
    create.add_argument("--retention-days", type=_days, metavar="N",
                        help="override the zones' default retention")
    create.add_argument("--legacy-group-key", action="append", metavar="KEY",
                        help="an Individeo trackerGroupKey that posts for this organization (repeatable)")

    org_set = shared.command(org, "set", run_set, "change an organization's retention override or value "
                             "policy (audited as org.settings_changed)")
    shared.org_option(org_set, shortcut=True)
    retention_choice = org_set.add_mutually_exclusive_group()
    retention_choice.add_argument("--retention-days", type=_days, metavar="N",
                                  help="keep its viewer-level data at most N days")
    retention_choice.add_argument("--no-retention-override", action="store_true", default=None,
                                  help="back to the zones' default retention")
    org_set.add_argument("--value-policy", choices=VALUE_POLICIES, help="what is stored of cta_value and "
                         "interaction_value: the value cut to 64 characters (store, the default), a keyed id "
                         "(hash) or nothing (drop); see docs/privacy.md")

    listing = shared.command(org, "list", run_list, "list the organizations with their main settings")
    shared.format_option(listing)

    show = shared.command(org, "show", run_show, "print every setting of an organization, secrets masked")
    shared.org_option(show, shortcut=True)
    shared.format_option(show, json_text="JSON, the secrets masked alike")

    key = shared.command(org, "key", run_key, "create (print once), list or revoke reporting API keys")
    shared.org_option(key, shortcut=True)
    key_choice = key.add_mutually_exclusive_group()
    shared.flag(key_choice, "--list", "list its keys: id, created, revoked")
    key_choice.add_argument("--revoke", metavar="KEY_ID", help="revoke the key with this id (see --list)")
    shared.format_option(key, json_text="JSON; with --list")

    digest = shared.command(org, "digest", run_digest, "show or set the weekly digest: who receives it, or "
                            "opt out")
    shared.org_option(digest, shortcut=True)
    digest_choice = digest.add_mutually_exclusive_group()
    digest_choice.add_argument("--digest-to", action="append", metavar="EMAIL",
                               help="opt in and send it to this address (repeatable; replaces the list)")
    digest_choice.add_argument("--no-digest", action="store_true", default=None,
                               help="opt out (the recipients are kept for a later opt-in)")

    webhook = shared.command(org, "webhook", run_webhook, "set, show, disable an organization's webhook "
                             "endpoint or rotate its signing secret (printed once)")
    shared.org_option(webhook, shortcut=True)
    webhook.add_argument("--url", help="the endpoint (https://…; http:// only for a loopback host); "
                         "enables it. Its host must be, and resolve to, public addresses: loopback, private, "
                         "link-local (cloud metadata), shared, reserved, multicast and unspecified ones are "
                         "refused in any spelling, when set and at each delivery")
    shared.flag(webhook, "--allow-loopback", "with --url: let it reach a loopback address (127.0.0.0/8, ::1, "
                "localhost), for tests and local receivers; never the other internal ranges")
    shared.flag(webhook, "--rotate-secret", "a new signing secret (the old one keeps signing for 24 hours)")
    shared.flag(webhook, "--disable", "stop delivering (waiting batches are kept)")
    webhook.add_argument("--since", metavar="YYYY-MM-DD[THH:MM]", help="with --url: deliver events received "
                         "from then on (UTC; default: from now, or as before for an enabled webhook)")


def run_create(args: argparse.Namespace) -> int:
    registry = shared.registry(shared.settings(args))
    org = registry.create(args.org, retention_days=args.retention_days,
                          legacy_group_keys=tuple(args.legacy_group_key or ()))
    group_keys = len(org.legacy_group_key_hashes)
    print(f"created organization {org.organization_id!r}"
          + (f" (retention {org.retention_days} days)" if org.retention_days else "")
          + (f", legacy group keys: {group_keys}" if group_keys else ""))
    return 0


def run_set(args: argparse.Namespace) -> int:
    from pipeline.governance.registry.organizations import KEEP

    retention = (None if args.no_retention_override
                 else KEEP if args.retention_days is None else args.retention_days)
    if retention is KEEP and args.value_policy is None:
        raise ValueError("say what to change: --retention-days N, --no-retention-override or --value-policy")
    registry = shared.registry(shared.settings(args))
    org = check_slug(args.org, "organization")
    before = registry.require(org)
    after = registry.update(org, retention_days=retention, value_policy=args.value_policy or KEEP)
    if retention is not KEEP:
        print(f"retention of {org!r}: {_retention(after.retention_days)} "
              f"(was {_retention(before.retention_days)})")
    if args.value_policy:
        print(f"value policy of {org!r}: {after.value_policy} (was {before.value_policy})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    organizations = shared.registry(shared.settings(args)).list()
    rows = [{"organization_id": org.organization_id, "created_at": org.created_at.isoformat(),
             "retention_days": org.retention_days, "value_policy": org.value_policy,
             "active_api_keys": sum(key.revoked_at is None for key in org.api_keys),
             "digest": org.digest.enabled, "webhook": org.webhook is not None and org.webhook.enabled}
            for org in sorted(organizations, key=lambda org: org.organization_id)]
    if args.format == "json":
        shared.print_json(rows, indent=2)
        return 0
    shared.print_table(rows, list(rows[0]) if rows else [])
    return 0


def run_show(args: argparse.Namespace) -> int:
    registry = shared.registry(shared.settings(args))
    org = registry.require(check_slug(args.org, "organization"))
    digest, webhook = org.digest, org.webhook
    keys = [f"{key.key_id} (created {key.created_at:%Y-%m-%d}"
            + (f", revoked {key.revoked_at:%Y-%m-%d})" if key.revoked_at else ")") for key in org.api_keys]
    lines = [
        f"organization: {org.organization_id}",
        f"created: {org.created_at.isoformat()}",
        f"retention: {_retention(org.retention_days)}",
        f"value policy: {org.value_policy}",
        f"salt: {_masked(org.salt)}",
        f"digest: {'enabled' if digest.enabled else 'disabled'}, {len(digest.recipients)} recipient(s)"
        + (f": {', '.join(digest.recipients)}" if digest.recipients else ""),
        "webhook: none" if webhook is None else
        f"webhook: {webhook.url} ({'enabled' if webhook.enabled else 'disabled'}, loopback "
        f"{'allowed' if webhook.allow_loopback else 'refused'}, events received since "
        f"{webhook.since.isoformat()}, secret {_masked(webhook.secret)}"
        + (f", previous secret signs until {webhook.previous_secret_expires_at.isoformat()}"
           if webhook.previous_secret and webhook.previous_secret_expires_at else "") + ")",
        f"reporting API keys: {', '.join(keys) if keys else 'none'}",
        f"legacy group keys: {len(org.legacy_group_key_hashes)}",
        f"unknown_share (last {UNKNOWN_SHARE_DAYS} days): "
        f"{_unknown_share(registry.store, org.organization_id)} events whose share token names a share "
        "or channel the platform has not published",
    ]
    if args.format == "json":
        shared.print_json({
            "organization_id": org.organization_id, "created_at": org.created_at.isoformat(),
            "retention_days": org.retention_days, "value_policy": org.value_policy, "salt": _masked(org.salt),
            "digest": {"enabled": digest.enabled, "recipients": digest.recipients},
            "webhook": None if webhook is None else {
                "url": webhook.url, "enabled": webhook.enabled, "allow_loopback": webhook.allow_loopback,
                "since": webhook.since.isoformat(), "secret": _masked(webhook.secret)},
            "api_keys": [{"key_id": key.key_id, "created_at": key.created_at.isoformat(),
                          "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None}
                         for key in org.api_keys],
            "legacy_group_keys": len(org.legacy_group_key_hashes)}, indent=2)
        return 0
    print("\n".join(lines))
    return 0


def _unknown_share(store: Store, org: str) -> int:
    """The compactor's count over the last UNKNOWN_SHARE_DAYS days of receipt, today included."""
    from pipeline.curated.commits import unknown_share

    today = datetime.now(UTC).date()
    return unknown_share(store, org, (today - timedelta(days=n) for n in range(UNKNOWN_SHARE_DAYS)))


def _retention(days: int | None) -> str:
    return f"{days} days" if days else "the zones' defaults"


def _masked(secret: str) -> str:
    """Enough to tell two secrets apart, too little to use one."""
    return f"{secret[:4]}…"


def run_key(args: argparse.Namespace) -> int:
    registry = shared.registry(shared.settings(args))
    if args.list:
        keys = [{"key_id": key.key_id, "created_at": key.created_at.isoformat(),
                 "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None}
                for key in registry.require(check_slug(args.org, "organization")).api_keys]
        if args.format == "json":
            shared.print_json(keys, indent=2)
        else:
            shared.print_table(keys, ["key_id", "created_at", "revoked_at"])
        return 0
    if args.revoke:
        registry.revoke_api_key(args.org, args.revoke)
        print(f"revoked key {args.revoke} of {args.org!r}")
        return 0
    key = registry.create_api_key(args.org)
    print(key)
    print("(shown once: only its hash is stored)", file=sys.stderr)
    return 0


def run_digest(args: argparse.Namespace) -> int:
    registry = shared.registry(shared.settings(args))
    org = check_slug(args.org, "organization")
    if args.digest_to:
        digest = registry.set_digest(org, enabled=True, recipients=args.digest_to)
    elif args.no_digest:
        digest = registry.set_digest(org, enabled=False)
    else:
        digest = registry.require(org).digest
    state = "enabled" if digest.enabled else "disabled"
    print(f"weekly digest of {org!r}: {state}, {len(digest.recipients)} recipient(s)"
          + (f": {', '.join(digest.recipients)}" if digest.recipients else ""))
    return 0


def run_webhook(args: argparse.Namespace) -> int:
    from pipeline.webhooks.dead_letters import dead_letters, pending

    registry = shared.registry(shared.settings(args))
    org = check_slug(args.org, "organization")
    if args.disable and (args.url or args.rotate_secret or args.since or args.allow_loopback):
        raise ValueError("--disable takes no other option")
    if args.since and not args.url:
        raise ValueError("--since goes with --url")
    if args.allow_loopback and not args.url:
        raise ValueError("--allow-loopback goes with --url")
    since = shared.since(args.since)
    secret = None
    if args.disable:
        registry.disable_webhook(org)
        print(f"webhook of {org!r} disabled (batches waiting stay in the outbox)")
    elif args.url:
        secret = registry.set_webhook(org, args.url, rotate_secret=args.rotate_secret, since=since,
                                      allow_loopback=args.allow_loopback)
    elif args.rotate_secret:
        secret = registry.rotate_webhook_secret(org)
    webhook = registry.require(org).webhook
    if webhook is None:
        print(f"{org!r} has no webhook: set one with --url https://…")
        return 0
    if secret is not None:
        print(secret)
        print("(the signing secret, shown once; the previous one, if any, keeps signing for 24 hours)",
              file=sys.stderr)
    elif args.url:
        print("(signing secret unchanged; --rotate-secret makes a new one)", file=sys.stderr)
    store = registry.store
    # With a new secret, stdout holds only the secret, so it can be captured on its own.
    print(f"url: {webhook.url}\nenabled: {'yes' if webhook.enabled else 'no'}\n"
          f"loopback allowed: {'yes' if webhook.allow_loopback else 'no'}\n"
          f"events received since: {webhook.since.isoformat()}\n"
          f"batches waiting: {len(pending(store, org))}\n"
          f"dead letters: {len(dead_letters(store, org))}",
          file=sys.stderr if secret else sys.stdout)
    return 0


def _days(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a number of days is a whole number from 1, not {text!r}")
    return int(text)
