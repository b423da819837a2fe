"""Signatures for export URLs and dashboard sessions: per purpose, rotating with the token keys."""

from __future__ import annotations

from gateway.signing import Signer
from pipeline.governance.key_ring import KeyRing

OLD, NEW = ("k1", b"old-secret"), ("k2", b"new-secret")


def ring(*keys: tuple[str, bytes]) -> KeyRing:
    return KeyRing(keys)


def test_signatures_verify_across_rotation_and_never_across_purposes() -> None:
    signed = Signer(ring(OLD), "export download").sign("acme.x\n123")
    assert Signer(ring(NEW, OLD), "export download").verify("acme.x\n123", signed)  # rotated: old verifies
    assert not Signer(ring(NEW), "export download").verify("acme.x\n123", signed)  # retired
    assert not Signer(ring(OLD), "dashboard session").verify("acme.x\n123", signed)
    assert not Signer(ring(OLD), "export download").verify("acme.x\n124", signed)
    assert not Signer(ring(OLD), "export download").verify("acme.x\n123", "ü" + signed[1:])
