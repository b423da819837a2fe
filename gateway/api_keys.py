"""Who is asking for reports: an organization API key (that organization only) or an admin key
(any organization, named with `organization_id`). Keys come from `Authorization: Bearer …`
(`_request.bearer`).

These functions read the store (the registry): call them from a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import ApiError
from pipeline.governance.registry import OrganizationRegistry, key_id_of
from translator.ids import check_slug


@dataclass(frozen=True)
class Principal:
    key_id: str
    organization_id: str | None  # None: an admin key

    @property
    def is_admin(self) -> bool:
        return self.organization_id is None

    def may_read(self, org: str) -> bool:
        return self.is_admin or self.organization_id == org

    @property
    def actor(self) -> str:
        """Who acted, for the audit log: the kind of key and its public id, never the key."""
        return f"{'admin_key' if self.is_admin else 'api_key'}:{self.key_id}"


def authenticate(registry: OrganizationRegistry, key: str | None) -> Principal:
    if key is None:
        raise ApiError(401, "api_key_missing", "send an organization or admin API key in "
                       "`Authorization: Bearer …` (`percus org key ORG` creates one)")
    key_id = key_id_of(key)
    if key_id is not None:
        if registry.is_admin_key(key):
            return Principal(key_id, None)
        org = registry.organization_for_api_key(key)
        if org is not None:
            return Principal(key_id, org)
    raise ApiError(401, "api_key_invalid", "the API key is unknown, malformed or revoked")


def organization(registry: OrganizationRegistry, principal: Principal, requested: str | None) -> str:
    """The organization a request reads: the key's own, or for an admin key the one it names."""
    if principal.organization_id is not None:
        if requested not in (None, principal.organization_id):
            raise ApiError(403, "organization_forbidden", "this API key reads its own organization "
                           "only", "organization_id")
        return principal.organization_id
    if requested is None:
        raise ApiError(400, "organization_required", "an admin key must name the organization "
                       "with organization_id", "organization_id")
    try:
        check_slug(requested, "organization_id")
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", str(exc), "organization_id") from None
    if registry.get(requested) is None:
        raise ApiError(404, "unknown_organization", f"there is no organization {requested!r}",
                       "organization_id")
    return requested
