"""The client-side viewer hash, as the SDK computes it in the browser (docs/sdk.md, "What is sent"):
the form a customer can compute from a recipient code, which the gateway keys before storing."""

from __future__ import annotations

import hashlib


def client_viewer_hash(organization_id: str, recipient_code: str, salt: str) -> str:
    """Hex SHA-256 of `organization_id:recipient_code:salt`."""
    return hashlib.sha256(f"{organization_id}:{recipient_code}:{salt}".encode()).hexdigest()
