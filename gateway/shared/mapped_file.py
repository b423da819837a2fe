"""A file mapped into the memory of every process that attaches it, with one lock for all of them."""

from __future__ import annotations

import fcntl
import mmap
import os
import threading
from pathlib import Path


class MappedFile:
    """The lock is an flock on the file, so the kernel releases it when its holder dies, even by
    `kill -9`: a dead worker never wedges the others. Whatever it was writing is then half done;
    the tables built on this file keep that harmless (a half-written slot matches no real key)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            self.memory = mmap.mmap(self._fd, 0)
        except BaseException:
            os.close(self._fd)
            raise
        # flock locks an open file, not a thread: the threads of one process also take turns here.
        self._threads = threading.Lock()

    @staticmethod
    def create(path: Path, size: int, header: bytes) -> None:
        """A new file of `size` bytes, zero but for `header`, put in place whole: a process attaching
        meanwhile sees the old file or the new one, never half of one."""
        partial = path.with_name(path.name + ".partial")
        fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            # Allocated now, not at each first write of a page under the lock.
            os.posix_fallocate(fd, 0, size)
            os.pwrite(fd, header, 0)
        finally:
            os.close(fd)
        os.replace(partial, path)

    def lock(self) -> None:
        self._threads.acquire()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def unlock(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()

    def close(self) -> None:
        self.memory.close()
        os.close(self._fd)
