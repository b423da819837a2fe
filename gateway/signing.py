"""HMAC signatures for what the gateway hands out besides share tokens: export download URLs and
dashboard session cookies.

Each use gets its own keys, derived from the token keys (PERCUS_TOKEN_KEYS) and a purpose label, so
a signature made for one use never verifies for another and no extra secret needs configuring. The
derived keys form a ring like the token keys' (the current one signs), so they rotate with them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from pipeline.governance.key_ring import KeyRing


class Signer:
    def __init__(self, token_keys: KeyRing, purpose: str) -> None:
        if not token_keys.keys:
            raise ValueError("signing needs at least one token key")
        label = f"percus {purpose} v1".encode()
        self._keys = KeyRing(tuple((kid, hmac.new(secret, label, hashlib.sha256).digest())
                                   for kid, secret in token_keys.keys))

    def sign(self, message: str) -> str:
        return _encode(hmac.new(self._keys.current[1], message.encode(), hashlib.sha256).digest())

    def verify(self, message: str, signature: str) -> bool:
        if not signature.isascii():  # compare_digest takes ASCII text only
            return False
        data = message.encode()
        return any(hmac.compare_digest(_encode(hmac.new(key, data, hashlib.sha256).digest()), signature)
                   for key in self._keys.secrets)


def _encode(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
