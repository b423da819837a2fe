"""Signatures for export URLs and dashboard sessions: per purpose, rotating with the token keys."""

from __future__ import annotations

from gateway.signing import Signer

OLD, NEW = ("k1", b"old-secret"), ("k2", b"new-secret")


def test_signatures_verify_across_rotation_and_never_across_purposes() -> None:
    signed = Signer([OLD], "export download").sign("acme.x\n123")
    assert Signer([NEW, OLD], "export download").verify("acme.x\n123", signed)  # rotated: old still verifies
    assert not Signer([NEW], "export download").verify("acme.x\n123", signed)  # retired
    assert not Signer([OLD], "dashboard session").verify("acme.x\n123", signed)
    assert not Signer([OLD], "export download").verify("acme.x\n124", signed)
    assert not Signer([OLD], "export download").verify("acme.x\n123", "ü" + signed[1:])
