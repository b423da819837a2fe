"""A real LocalStore that dies before its n-th write, to replay a crash at every point of a job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipeline.store.local import LocalStore


class Crash(Exception):
    pass


class CrashingStore:
    """Passes everything to a LocalStore, but raises Crash before write number crash_at (a put,
    create or delete; None never crashes), and logs the writes it made."""

    def __init__(self, inner: LocalStore, crash_at: int | None) -> None:
        self.inner = inner
        self.crash_at = crash_at
        self.writes: list[tuple[str, str]] = []  # (put|create|delete, key)

    def _write(self, op: str, key: str) -> None:
        if len(self.writes) == self.crash_at:
            raise Crash(f"crash before write {len(self.writes)}")
        self.writes.append((op, key))

    def put(self, key: str, data: bytes) -> None:
        self._write("put", key)
        self.inner.put(key, data)

    def create(self, key: str, data: bytes) -> None:
        self._write("create", key)
        self.inner.create(key, data)

    def delete(self, key: str) -> None:
        self._write("delete", key)
        self.inner.delete(key)

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def list(self, prefix: str) -> Iterator[str]:
        return self.inner.list(prefix)

    def local_path(self, key: str) -> Path | None:
        return self.inner.local_path(key)
