"""Keyed viewer ids: the gateway stores `HMAC-SHA256(viewer key, client viewer_hash)`, never the
client's hash, since the salt is public and recipient codes are enumerable; DSAR looks a viewer up
under every key held. The threat, the keys and their rotation: docs/privacy.md."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.governance.key_ring import KeyRing

ENV = "PERCUS_VIEWER_KEYS"
_CLIENT_HASH = re.compile(r"^[0-9a-f]{64}$")


def keyed_viewer_hash(key: bytes, client_hash: str) -> str:
    """The stored viewer id: HMAC-SHA256 of the client's hex hash (as ASCII) under `key`, in hex.

    64 lowercase hex characters, the shape of a client hash, so every reader of `viewer_hash` is
    unchanged.
    """
    return hmac.digest(key, client_hash.encode("ascii"), hashlib.sha256).hex()


def client_hash(value: str) -> str:
    """A client-side viewer hash as the SDK writes it (64 lowercase hex); ValueError otherwise."""
    normalised = value.strip().lower()
    if not _CLIENT_HASH.fullmatch(normalised):
        raise ValueError("a viewer hash is 64 hexadecimal characters (the SDK's SHA-256)")
    return normalised


@dataclass(frozen=True)
class ViewerKeys:
    ring: KeyRing  # the current key keys what is stored; DSAR looks up under every one
    # The current key's HMAC state with the key already mixed in: copying it halves the cost of a
    # keyed id (about 1 µs), which the gateway pays per event.
    _current: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_current", hmac.new(self.ring.current[1], digestmod=hashlib.sha256))

    def keyed(self, client_hash: str) -> str:
        """What the gateway stores for a validated client hash (under the current key)."""
        mac = self._current.copy()
        mac.update(client_hash.encode("ascii"))
        return mac.hexdigest()

    def keyed_value(self, value: str) -> str:
        """A CTA or interaction value's stored id under the `hash` value policy: keyed like a viewer id,
        apart from viewer ids by its prefix, so equal values share an id and nothing reverses it."""
        mac = self._current.copy()
        mac.update(b"value:" + value.encode())
        return mac.hexdigest()

    def stored_forms(self, client_hash: str) -> list[str]:
        """Every value under which a viewer's events can be stored: keyed under each key held, and
        the client hash itself (events stored before keyed ids existed)."""
        return [*(keyed_viewer_hash(secret, client_hash) for secret in self.ring.secrets), client_hash]

    @classmethod
    def parse(cls, text: str) -> ViewerKeys:
        return cls(KeyRing.parse(text, ENV))


def load_viewer_keys(env: Mapping[str, str] | None = None, *, data_dir: Path | None = None) -> ViewerKeys:
    """`PERCUS_VIEWER_KEYS`, else the key file of `data_dir` (generated on first use).

    Without either this fails: a key made up on the spot would key ids nothing else can look up.
    """
    key_file = None if data_dir is None else data_dir / "secrets" / "viewer_keys"
    return ViewerKeys(KeyRing.load(ENV, os.environ if env is None else env, key_file, first_kid="v1"))
