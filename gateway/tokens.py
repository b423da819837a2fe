"""Signed share tokens: which organization and project an embed may write events for.

Format: ``pt1.<kid>.<claims>.<signature>``, every part URL-safe (the token travels in ``?token=``).
``claims`` is base64url JSON; ``signature`` is base64url HMAC-SHA256 over ``pt1.<kid>.<claims>`` with
the key named ``kid`` in the token key ring (PERCUS_TOKEN_KEYS, pipeline/governance/key_ring.py): a
key is dropped once the tokens it signed have expired.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pipeline.governance.key_ring import KeyRing
from translator.ids import check_slug

VERSION = "pt1"
DEFAULT_TTL_SECONDS = 30 * 86400

_KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_TTL = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class TokenError(Exception):
    """A token that must not be honoured; `code` is stable and answered to the client."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ShareToken:
    organization_id: str
    project_id: str
    expires_at: int  # unix seconds
    public_share_id: str | None = None
    distribution_channel_id: str | None = None
    origins: tuple[str, ...] | None = None  # None: any origin may send
    kid: str = ""

    def allows_origin(self, origin: str | None) -> bool:
        # Native SDKs and servers send no Origin; the list restricts which web pages may use the token.
        return self.origins is None or origin is None or origin.lower() in self.origins


def parse_ttl(text: str) -> int:
    """Seconds in a lifetime such as "30d", "12h", "90m", "45s" or "2w"."""
    match = _TTL.fullmatch(text)
    if not match or int(match[1]) == 0:
        raise ValueError(f"TTL {text!r} must be a positive number followed by s, m, h, d or w, e.g. 30d")
    return int(match[1]) * _TTL_UNITS[match[2]]


def normalise_origin(origin: str) -> str:
    """`scheme://host[:port]` in lower case, as browsers send it in the Origin header."""
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"origin {origin!r} must look like https://example.com[:port]")
    return f"{parts.scheme}://{parts.netloc}"


def issue_token(
    keys: KeyRing,
    organization_id: str,
    project_id: str,
    *,
    ttl: int = DEFAULT_TTL_SECONDS,
    public_share_id: str | None = None,
    distribution_channel_id: str | None = None,
    origins: Sequence[str] | None = None,
    now: float | None = None,
) -> str:
    """A token signed with the current key. Raises ValueError for ids or origins that could not be
    honoured, or without a key."""
    kid, secret = keys.current
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    if not _KID.fullmatch(kid):
        raise ValueError(f"key id {kid!r} must be 1-32 characters of letters, digits, '_' or '-'")
    claims: dict[str, Any] = {
        "org": check_slug(organization_id, "organization"),
        "prj": check_slug(project_id, "project"),
        "exp": int((time.time() if now is None else now) + ttl),
    }
    if public_share_id is not None:
        claims["shr"] = check_slug(public_share_id, "public share id")
    if distribution_channel_id is not None:
        claims["chn"] = check_slug(distribution_channel_id, "distribution channel id")
    if origins is not None:
        claims["ori"] = sorted({normalise_origin(origin) for origin in origins})
    body = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
    signed = f"{VERSION}.{kid}.{body}"
    return f"{signed}.{_b64encode(_sign(secret, signed))}"


class TokenVerifier:
    """Verifies share tokens: the claims of a genuine, unexpired token, or TokenError. The signature
    check and claim decoding are cached per token string.

    Every embed of a campaign sends the same token, so the hot path is a cache hit. Only the time-free
    part is cached (a token's signature and claims under this verifier's keys; a refusal raises and is
    not kept); expiry is still checked on every call.
    """

    def __init__(self, keys: KeyRing, cache_size: int = 4096) -> None:
        self._verify_signed = functools.lru_cache(maxsize=cache_size)(functools.partial(_verify_signed, keys))

    def verify(self, token: str | None, now: float | None = None) -> ShareToken:
        share = self._verify_signed(token)
        _check_expiry(share, now)
        return share


def _verify_signed(keys: KeyRing, token: str | None) -> ShareToken:
    if not token:
        raise TokenError("token_missing", "a share token is required (Authorization: Bearer … or ?token=…)")
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION:
        raise TokenError("token_malformed", f"the share token is not a {VERSION} token")
    _, kid, body, signature = parts
    secret = keys.secret(kid)
    if secret is None:
        raise TokenError("token_unknown_kid", "the share token's signing key is not known to this server")
    try:
        given = _b64decode(signature)
    except ValueError:
        raise TokenError("token_malformed", "the share token's signature is not base64url") from None
    if not hmac.compare_digest(given, _sign(secret, f"{VERSION}.{kid}.{body}")):
        raise TokenError("token_bad_signature", "the share token's signature does not match")
    try:
        claims = json.loads(_b64decode(body))
        return _share_token(claims, kid)
    except (ValueError, TypeError, KeyError):
        # Signed by us but unreadable: only a key leak or an issuer bug produces this.
        raise TokenError("token_malformed", "the share token's claims are invalid") from None


def _share_token(claims: dict[str, Any], kid: str) -> ShareToken:
    expires_at = claims["exp"]
    if not isinstance(expires_at, int) or isinstance(expires_at, bool):
        raise TypeError("exp")
    origins = claims.get("ori")
    if origins is not None:
        origins = tuple(normalise_origin(origin) for origin in origins)
    share, channel = claims.get("shr"), claims.get("chn")
    return ShareToken(
        organization_id=check_slug(claims["org"], "organization"),
        project_id=check_slug(claims["prj"], "project"),
        expires_at=expires_at,
        public_share_id=None if share is None else check_slug(share, "public share id"),
        distribution_channel_id=None if channel is None else check_slug(channel, "distribution channel id"),
        origins=origins,
        kid=kid,
    )


def _check_expiry(share: ShareToken, now: float | None) -> None:
    if (time.time() if now is None else now) >= share.expires_at:
        raise TokenError("token_expired", "the share token has expired; ask for a new embed code")


def _sign(secret: bytes, signed: str) -> bytes:
    return hmac.new(secret, signed.encode(), hashlib.sha256).digest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    if not text or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc
    if _b64encode(data) != text:  # one encoding per value: no look-alike copies of a token
        raise ValueError("not canonical base64url")
    return data
