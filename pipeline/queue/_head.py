"""The local queue's `head` file (pipeline/queue/local.py): which segment is written and how far the
whole records appended to it go, for every process of one queue directory; flocked, it is the append
lock between them.

It is mapped into memory, so an append reads and updates it without a system call. Beside the end of
the whole records it says, while an append is under way, where that append will end: a sender killed
in the middle of one leaves the two apart, and only then does the next appender look at the segment's
size and cut what the dead one left.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path

from pipeline import files

# magic, base of the segment written, end of its whole records, where the append under way will end
_LAYOUT = struct.Struct("<8sQQQ")
_MAGIC = b"PRCSHED1"


class Head:
    def __init__(self, directory: Path) -> None:
        self.fd = os.open(directory / "head", os.O_RDWR | os.O_CREAT, files.FILE_MODE)
        self._map: mmap.mmap | None = None

    def lock(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def unlock(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def map(self) -> None:
        """Map the file, making it large enough first (lock held: an older version's file held text)."""
        if os.fstat(self.fd).st_size < _LAYOUT.size:
            os.ftruncate(self.fd, _LAYOUT.size)
        self._map = mmap.mmap(self.fd, _LAYOUT.size)

    def read(self) -> tuple[int, int, int] | None:
        """(base, end of the whole records, intended end); None before a version that maps it wrote it."""
        assert self._map is not None
        magic, base, end, intended = _LAYOUT.unpack_from(self._map)
        return (base, end, intended) if magic == _MAGIC and base <= end <= intended else None

    def write(self, base: int, end: int) -> None:
        """No append under way: the whole records of the segment at `base` end at `end`."""
        assert self._map is not None
        _LAYOUT.pack_into(self._map, 0, _MAGIC, base, end, end)

    def intend(self, end: int) -> None:
        """An append begins that will end at `end`."""
        assert self._map is not None
        self._map[24:32] = end.to_bytes(8, "little")

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
        os.close(self.fd)
