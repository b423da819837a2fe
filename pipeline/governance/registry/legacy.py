"""Individeo bindings for the legacy endpoint and the compat script: trackerGroupKeys bound to an
organization, and attachment codes resolved to an organization and project. Each is one object
named by the SHA-256 of the key or code (a group key is a credential: it lets a page post for the
organization, so its organization's record lists it by SHA-256 too, and no key is ever stored)."""

from __future__ import annotations

import hmac
import json
import threading
import time

from pipeline import layout
from pipeline.governance.registry.models import (
    PLAINTEXT_GROUP_KEYS,
    Attachment,
    Organization,
    RegistryError,
    sha256_hex,
)
from pipeline.governance.registry.organizations import Organizations
from translator.ids import check_slug

_GROUP_KEYS = layout.LEGACY_GROUP_KEYS.prefix
_ATTACHMENTS = layout.ATTACHMENTS.prefix
_CACHE_MAX = 10_000  # group-key lookups remembered; far more than the keys of every customer


class GroupKeys:
    """Which organization a trackerGroupKey posts for; lookups are remembered for `cache_seconds`."""

    def __init__(self, organizations: Organizations, cache_seconds: float) -> None:
        self._organizations = organizations
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def add(self, org: str, group_key: str) -> None:
        """Bind `group_key` to `org`; a key binds to one organization only."""
        record = self._organizations.require(org)
        if not group_key or len(group_key) > 256:
            raise RegistryError("a legacy group key is 1-256 characters")
        owner = self._owner(group_key, cached=False)
        if owner not in (None, org):
            raise RegistryError("that legacy group key is already bound to another organization")
        self._organizations.store.put(_index(group_key), json.dumps({"organization_id": org}).encode())
        digest = sha256_hex(group_key)
        if not any(hmac.compare_digest(digest, known) for known in record.legacy_group_key_hashes):
            record.legacy_group_key_hashes.append(digest)
            self._organizations.save(record)
            # The record says that a key was added and how many there are, never which.
            self._organizations.audit("org.legacy_group_key_added", org,
                                      {"legacy_group_keys": len(record.legacy_group_key_hashes)})

    def hash_plaintext(self) -> int:
        """Rewrite the organization records an earlier version wrote with the keys themselves, which
        then hold their hashes only; returns how many it rewrote."""
        store = self._organizations.store
        rewritten = 0
        for key in store.list(layout.ORGANIZATIONS.prefix):
            data = json.loads(store.get(key))
            if PLAINTEXT_GROUP_KEYS in data:
                self._organizations.save(Organization.model_validate(data))
                rewritten += 1
        return rewritten

    def organization_for(self, group_key: str) -> str | None:
        return self._owner(group_key, cached=True)

    def _owner(self, group_key: str, *, cached: bool) -> str | None:
        # Looked up by the key's SHA-256, the object's name: no stored secret is compared with the
        # key, and what the lookup's timing could tell is about a hash, not about a key.
        index = _index(group_key)
        if cached:
            with self._lock:
                hit = self._cache.get(index)
            if hit and hit[0] > time.monotonic():
                return hit[1]
        try:
            owner: str | None = json.loads(self._organizations.store.get(index))["organization_id"]
        except KeyError:
            owner = None
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:  # unknown keys come from anyone: bound what they cost
                self._cache.clear()
            self._cache[index] = (time.monotonic() + self._cache_seconds, owner)
        return owner


def _index(group_key: str) -> str:
    return f"{_GROUP_KEYS}{sha256_hex(group_key)}.json"


class Attachments:
    """The organization, project and template an attachment code stands for."""

    def __init__(self, organizations: Organizations) -> None:
        self._organizations = organizations

    def register(self, attachment: Attachment) -> None:
        self._organizations.require(attachment.organization_id)
        check_slug(attachment.project_id, "project")
        if attachment.template_id is not None:
            check_slug(attachment.template_id, "template")
        if not attachment.attachment_code or len(attachment.attachment_code) > 256:
            raise RegistryError("an attachment code is 1-256 characters")  # the endpoint looks up no longer
        previous = self.get(attachment.attachment_code)
        self._organizations.store.put(_attachment_key(attachment.attachment_code),
                                      attachment.model_dump_json().encode())
        # Named by its SHA-256 (the name of its config object), as the registry keeps it.
        self._organizations.audit("legacy.attachment_registered", attachment.organization_id, {
            "attachment_sha256": sha256_hex(attachment.attachment_code),
            "project_id": attachment.project_id, "template_id": attachment.template_id,
            "tracking": attachment.tracking, "consent_required": attachment.consent_required,
            "replaced": previous is not None,
            "previous_organization_id": previous.organization_id if previous else None})

    def get(self, attachment_code: str) -> Attachment | None:
        try:
            data = self._organizations.store.get(_attachment_key(attachment_code))
        except KeyError:
            return None
        return Attachment.model_validate_json(data)


def _attachment_key(attachment_code: str) -> str:
    return f"{_ATTACHMENTS}{sha256_hex(attachment_code)}.json"
