"""The dashboard's session cookie: who signed in (a key id and its organization, never the key),
until when, signed with a key derived from the token keys.

Value: `<base64url JSON>.<signature>`. The cookie is HttpOnly (no script reads it), SameSite=Strict
(no other site's page sends it, so a form posted from elsewhere arrives signed out), scoped to
/dashboard, and Secure when the dashboard is served over HTTPS. Each page also checks that the key
is still unrevoked, so revoking a key ends its sessions.
"""

from __future__ import annotations

import base64
import binascii
import json
import time

from starlette.responses import Response

from gateway.api_keys import Principal
from gateway.signing import Signer
from pipeline.governance.key_ring import KeyRing

COOKIE = "percus_dashboard"
PATH = "/dashboard"
MAX_AGE_SECONDS = 8 * 3600


class Sessions:
    def __init__(self, token_keys: KeyRing) -> None:
        self._signer = Signer(token_keys, "dashboard session")

    def issue(self, response: Response, principal: Principal, *, secure: bool,
              now: float | None = None) -> None:
        claims = {"kid": principal.key_id, "org": principal.organization_id,
                  "exp": int((now or time.time()) + MAX_AGE_SECONDS)}
        payload = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode()
        response.set_cookie(COOKIE, f"{payload}.{self._signer.sign(payload)}", max_age=MAX_AGE_SECONDS,
                            path=PATH, secure=secure, httponly=True, samesite="strict")

    def read(self, cookie: str | None, *, now: float | None = None) -> Principal | None:
        """The signed-in principal, or None (no cookie, a bad signature, or expired)."""
        payload, _, signature = (cookie or "").partition(".")
        if not payload or not self._signer.verify(payload, signature):
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload.encode()))
            key_id, org, expires = claims["kid"], claims["org"], int(claims["exp"])
        except (binascii.Error, ValueError, KeyError, TypeError):
            return None
        if expires < (now or time.time()) or not isinstance(key_id, str) or not isinstance(org, str | None):
            return None
        return Principal(key_id, org)

    @staticmethod
    def clear(response: Response, *, secure: bool) -> None:
        response.delete_cookie(COOKIE, path=PATH, secure=secure, httponly=True, samesite="strict")
