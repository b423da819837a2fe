"""The object-store protocol both backends implement."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class Store(Protocol):
    def put(self, key: str, data: bytes) -> None:
        """Write an object atomically: a reader sees the old object or the new one, never a part."""

    def create(self, key: str, data: bytes) -> None:
        """Write a new object, atomically as `put`; FileExistsError when the key already exists, which
        is then left as it was (S3: a conditional PutObject, If-None-Match: *)."""

    def put_file(self, key: str, path: Path) -> None:
        """Write an object from a local file without holding it in memory, atomically as `put`."""

    def get(self, key: str) -> bytes:
        """Read an object; KeyError when it does not exist."""

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under prefix, in lexicographic order."""

    def delete(self, key: str) -> None:
        """Remove an object; no error when it is already gone."""

    def local_path(self, key: str) -> Path | None:
        """The file behind a key when the store is a local directory (for DuckDB), else None."""

    def download_url(self, key: str, expires_in: int) -> str | None:
        """A URL anyone holding it may GET the object from for `expires_in` seconds (S3: presigned),
        or None when the store has none (the gateway then signs a URL of its own)."""
