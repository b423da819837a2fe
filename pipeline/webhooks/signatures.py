"""The signature on every webhook request (the scheme a receiver checks; docs/api.md, "Verifying a
request"): `Percus-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, with one v1 per
secret that signs (two while a rotated secret overlaps its successor)."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

SIGNATURE_HEADER = "Percus-Signature"
TOLERANCE_SECONDS = 300  # what receivers are told to accept: a signature at most 5 minutes old


class SignatureError(ValueError):
    """A request whose Percus-Signature does not verify (malformed, wrong, or too old)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256, keyed with the whole secret (`whsec_…`), of `<timestamp>.<body>`."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={sign(secret, timestamp, body)}" for secret in secrets)])


def verify_signature(secret: str, header: str, body: bytes, *, now: float | None = None,
                     tolerance: float = TOLERANCE_SECONDS) -> int:
    """Check a Percus-Signature header against the raw body, as a receiver does; returns its timestamp.

    Raises SignatureError when no v1 value matches or the timestamp is more than `tolerance` seconds
    from `now` (a replay)."""
    timestamp, signatures = None, []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("malformed Percus-Signature header")
    expected = sign(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError("signature does not match the body")
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise SignatureError("timestamp outside the tolerance: a replayed or delayed request")
    return timestamp
