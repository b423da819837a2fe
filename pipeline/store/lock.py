"""An exclusive lock over part of a local store's state, held by one process at a time.

On S3 there is no lock: the scheduled Lambdas that take one locally run with reserved concurrency 1.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator

from pipeline.files import FILE_MODE, make_dirs
from pipeline.store.base import Store


class Busy(RuntimeError):
    """Another process holds the lock and the caller chose not to wait."""


@contextlib.contextmanager
def store_lock(store: Store, key: str, busy: type[Busy], message: str, *,
               wait: bool = True) -> Iterator[None]:
    """Hold the flock of `key` (a file in the store) while the block runs; without `wait`, raise
    `busy(message)` at once if another process holds it. A no-op on stores without local files."""
    path = store.local_path(key)
    if path is None:
        yield
        return
    make_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise busy(message) from None
            raise
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
