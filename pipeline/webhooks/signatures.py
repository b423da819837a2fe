"""The signature on every webhook request (the scheme a receiver checks; docs/api.md, "Verifying a
request"): `Percus-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, with one v1 per
secret that signs (two while a rotated secret overlaps its successor)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

SIGNATURE_HEADER = "Percus-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256, keyed with the whole secret (`whsec_…`), of `<timestamp>.<body>`."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={sign(secret, timestamp, body)}" for secret in secrets)])
