"""An exclusive lock over part of a local store's state, held by one process at a time.

On S3 there is no lock: the scheduled Lambdas that take one locally run with reserved concurrency 1.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
from collections.abc import Iterator

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
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise busy(message) from None
            raise
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
