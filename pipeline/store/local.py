"""The embedded default store: objects are files under one directory, keys are relative paths."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from pipeline.files import FILE_MODE, make_dirs


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        make_dirs(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not key or key.startswith("/") or not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"invalid object key {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        self._publish(key, lambda handle: handle.write(data), os.replace)

    def create(self, key: str, data: bytes) -> None:
        # A hard link fails when the target exists, atomically: of two racing creates, one wins.
        self._publish(key, lambda handle: handle.write(data), os.link)

    def put_file(self, key: str, path: Path) -> None:
        with open(path, "rb") as source:
            self._publish(key, lambda handle: shutil.copyfileobj(source, handle, 1 << 20), os.replace)

    def _publish(self, key: str, write: Callable[[BinaryIO], object],
                 place: Callable[[Path, Path], None]) -> None:
        path = self._path(key)
        make_dirs(path.parent)
        # Write beside the target, then move or link it into place: readers never see half an object,
        # and a crash leaves at worst a stray temporary file (dot-prefixed, so list() skips it).
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            place(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)  # gone after a replace; after a link, the spare name

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise KeyError(key) from None

    def list(self, prefix: str) -> Iterator[str]:
        # Walk only the directories the prefix can reach, so a partitioned prefix stays cheap.
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / base if base else self.root
        if not start.is_dir():
            return
        keys = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, self.root)
            for name in filenames:
                if name.startswith("."):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        yield from sorted(keys)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def download_url(self, key: str, expires_in: int) -> str | None:
        return None
