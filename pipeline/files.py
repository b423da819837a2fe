"""Files under the data dir are its user's alone, whatever the umask: directories are made 0700 and
files 0600 (a umask only takes bits away, and none takes the owner's). Every writer under the data
dir (store, queue, mail outbox, key files) makes them through these.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_dirs(path: Path) -> None:
    """`path` and its missing parents, each DIR_MODE (Path.mkdir gives the parents the umask's mode)."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by another process meanwhile
            directory.mkdir(DIR_MODE)


def write(path: Path, data: bytes) -> None:
    """Create or overwrite `path` with `data`; a file it creates is FILE_MODE."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as handle:
        handle.write(data)


def stamp(path: Path) -> None:
    """Set `path`'s modification time from the process clock: a file whose age is later compared with
    time.time() is then aged by one clock, not by the file system's and the process's."""
    now = time.time()
    os.utime(path, (now, now))


def replace(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Replace `path` by a file holding `data`, atomically: a reader sees the old file or the new one,
    never half of it. With `fsync`, the new file and its directory entry are on disk when this returns."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.write(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if fsync:
        fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
