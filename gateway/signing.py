"""HMAC signatures for what the gateway hands out besides share tokens: export download URLs and
dashboard session cookies.

Each use gets its own keys, derived from the token keys (PERCUS_TOKEN_KEYS) and a purpose label, so
a signature made for one use never verifies for another and no extra secret needs configuring. The
first key signs and every key verifies, so these rotate with the token keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence


class Signer:
    def __init__(self, token_keys: Sequence[tuple[str, bytes]], purpose: str) -> None:
        if not token_keys:
            raise ValueError("signing needs at least one token key")
        self._keys = [hmac.new(secret, f"percus {purpose} v1".encode(), hashlib.sha256).digest()
                      for _, secret in token_keys]

    def sign(self, message: str) -> str:
        return _encode(hmac.new(self._keys[0], message.encode(), hashlib.sha256).digest())

    def verify(self, message: str, signature: str) -> bool:
        if not signature.isascii():  # compare_digest takes ASCII text only
            return False
        data = message.encode()
        return any(hmac.compare_digest(_encode(hmac.new(key, data, hashlib.sha256).digest()), signature)
                   for key in self._keys)


def _encode(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
