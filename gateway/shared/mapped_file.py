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
        """A new file of `size` bytes, zero but for `header`, kept in memory (a memfd), never on disk:
        a data dir on a small or full disk must not stop `percus serve`, and a page of a file mapped
        from a full disk would kill its writer (SIGBUS). `path` becomes a link to this process's
        descriptor of it, which stays open for the process's life: processes attach through it (a
        fresh open file, whose flock is its own), and the memory goes with the last one of them.
        The link replaces an older one whole: a process attaching meanwhile opens one or the other."""
        fd = os.memfd_create(path.name)  # close-on-exec: attached through the link, never inherited
        os.ftruncate(fd, size)  # pages are taken as they are first written
        os.pwrite(fd, header, 0)
        partial = path.with_name(path.name + ".partial")
        partial.unlink(missing_ok=True)
        os.symlink(f"/proc/{os.getpid()}/fd/{fd}", partial)
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
