"""A webhook receiver's check of the Percus-Signature header, as docs/api.md tells receivers to make it."""

from __future__ import annotations

import hmac
import time

from pipeline.webhooks.signatures import sign

TOLERANCE_SECONDS = 300  # what receivers are told to accept: a signature at most 5 minutes old


class SignatureError(ValueError):
    """A request whose Percus-Signature does not verify (malformed, wrong, or too old)."""


def verify_signature(secret: str, header: str, body: bytes, *, now: float | None = None,
                     tolerance: float = TOLERANCE_SECONDS) -> int:
    """Check a Percus-Signature header against the raw body; returns its timestamp.

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
