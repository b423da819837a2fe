"""The key ring of the share-token keys (PERCUS_TOKEN_KEYS) and the viewer-id keys
(PERCUS_VIEWER_KEYS): named secrets, newest first. The first signs (or keys) what is made now and
every one verifies (or finds) what was made before, so a key rotates by prepending a new one and
dropping the old one once nothing it made is still in use.

Webhook secrets are not a ring: each belongs to one organization's record, and a rotated-out one
still signs, beside its successor, until its overlap ends (registry/webhooks.py)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from secrets import token_hex, token_urlsafe

from pipeline.files import FILE_MODE, make_dirs


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[tuple[str, bytes], ...]  # (kid, secret); empty in a process that signs nothing

    @property
    def current(self) -> tuple[str, bytes]:
        """The (kid, secret) that signs."""
        if not self.keys:
            raise ValueError("no key is configured")
        return self.keys[0]

    @property
    def secrets(self) -> tuple[bytes, ...]:
        return tuple(secret for _, secret in self.keys)

    def secret(self, kid: str) -> bytes | None:
        return next((secret for key_id, secret in self.keys if key_id == kid), None)

    @classmethod
    def parse(cls, text: str, variable: str) -> KeyRing:
        """`kid:secret[,kid:secret…]`, the format of `variable` (named in errors)."""
        keys = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            kid, sep, secret = item.partition(":")
            if not sep or not kid or not secret:
                raise ValueError(f"{variable} entry {item[:4]!r}… must be kid:secret")
            keys.append((kid, secret.encode()))
        if not keys:
            raise ValueError(f"{variable} is set but names no key")
        return cls(tuple(keys))

    @classmethod
    def load(cls, variable: str, env: Mapping[str, str], key_file: Path | None, *, first_kid: str
             ) -> KeyRing:
        """`variable` of `env`, else `key_file` (made with one fresh key named `first_kid` on first
        use); with neither this fails rather than make up a key nothing else holds."""
        text = env.get(variable)
        if text:
            return cls.parse(text, variable)
        if key_file is None:
            raise ValueError(f"set {variable} (kid:secret[,kid:secret…]): no key is configured")
        return cls.parse(_key_file_text(key_file, first_kid), variable)


def _key_file_text(path: Path, first_kid: str) -> str:
    """The embedded default's key file, created private on first use with a fresh key."""
    if not path.exists():
        make_dirs(path.parent)
        tmp = path.with_name(f".{path.name}.{token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{first_kid}:{token_urlsafe(32)}\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # never replace a key another process wrote first
        tmp.unlink()
    return path.read_text()
