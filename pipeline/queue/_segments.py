"""The local queue's log (pipeline/queue/local.py): its segment files, where it ends, appends and rolls,
as one process's side of the queue sees them; what a process killed in the middle of either leaves is
cut or finished by whoever next holds the append lock. The receiving side's bookkeeping (what was
delivered and deleted) is the queue's own."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from pipeline import files
from pipeline.queue._frames import scan
from pipeline.queue._head import Head
from pipeline.queue.base import QueueUnavailable

log = logging.getLogger(__name__)

_SEGMENT = re.compile(r"^(\d{20})\.seg$")
READ_CHUNK = 1 << 20  # larger than any record, so one read always holds at least one whole record
APPEND_POLL = 0.01  # seconds between a receiving process's looks for another process's appends


class Segments:
    """`bases`: the offsets the segments start at (the sending side alone knows only the one it
    writes); `write_end`: the end of the whole records. `shared`: the object is one side of the
    queue, the other being another process's (as other senders may be), so `head` is locked around
    each append and each look at the log's end."""

    def __init__(self, directory: Path, *, segment_bytes: int, fsync: bool, sends: bool, receives: bool
                 ) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.sends, self.receives = sends, receives
        self.shared = not (sends and receives)  # the other side is another process's
        # Held by each append, and by the receiving side briefly inside its own lock (never the other
        # way round); `appended` wakes receivers in this process.
        self.lock = threading.Lock()
        self.appended = threading.Condition(self.lock)
        self._receivers = 0  # threads waiting on `appended` (guarded by the lock)
        self.closed = False
        self.bases: list[int] = []
        self.write_end = 0
        self.since: float | None = None  # monotonic time of the write segment's first record
        self._write_fd = -1
        self.head = Head(directory)

    def path(self, base: int) -> Path:
        return self.directory / f"{base:020d}.seg"

    def listed(self) -> list[int]:
        return sorted(int(m[1]) for p in self.directory.iterdir() if (m := _SEGMENT.fullmatch(p.name)))

    @contextlib.contextmanager
    def across_processes(self) -> Iterator[None]:
        """The append lock between processes (none is needed when one object is both sides): held by
        each append, and by the receiver to see the log's end or roll it."""
        if not self.shared:
            yield
            return
        self.head.lock()
        try:
            yield
        finally:
            self.head.unlock()

    # -- opening ------------------------------------------------------------------------------

    def open(self) -> None:
        """Find the log's segments and its end, cutting a torn tail."""
        with self.across_processes():
            self.head.map()
            head = self.head.read()
            self.bases = bases = self._segments(head)
            last = bases[-1]
            # Whoever holds the append lock may cut a torn tail: a sender leaves none while alive.
            fd = os.open(self.path(last), os.O_RDWR)
            try:
                whole = head[1] - last if head is not None and head[0] == last else 0
                self.write_end = last + self._recover_tail(fd, last, whole)
            finally:
                if self.sends:
                    self._write_fd = fd
                else:
                    os.close(fd)
            self.head.write(last, self.write_end)
        if self.write_end > last:
            self.since = time.monotonic()  # its age is not on disk: counted from this start
        if not self.receives:
            self.bases = [last]  # the sender needs only the segment it writes

    def _segments(self, head: tuple[int, int, int] | None) -> list[int]:
        """The segments on disk (the append lock across processes held), once a roll that a process
        killed midway left half done is finished: `head` names a new segment before it is made, so
        the one it names is made here if missing. A made segment that `head` never named is empty
        (a roll requires records, so no other segment is): left by an older version, which made the
        segment first, it is removed, or the records appended after it to the segment before would
        be read from it."""
        bases = self.listed()
        if head is None:
            if not bases:
                os.close(self._create(0))
                bases = [0]
            return bases
        named = head[0]
        for base in [base for base in bases if base != named]:
            if os.stat(self.path(base)).st_size == 0:
                log.warning("queue %s: removing segment %d, made by a roll cut short", self.directory, base)
                self.path(base).unlink()
                bases.remove(base)
        if not bases or named > bases[-1]:
            os.close(self._create(named))
            bases.append(named)
        return bases

    def _create(self, base: int) -> int:
        """Make the segment at `base` unless it is there (named by `head` first: see _segments); its
        file descriptor, open for writing."""
        fd = os.open(self.path(base), os.O_RDWR | os.O_CREAT, files.FILE_MODE)
        if self.fsync:
            files.fsync_directory(self.directory)
        return fd

    def _recover_tail(self, fd: int, base: int, whole: int = 0) -> int:
        """Length of the whole records at the start of the last segment, known whole up to `whole`;
        cut off a torn tail."""
        size = os.fstat(fd).st_size
        if whole == size:  # the usual case: the last append completed
            return size
        pos, _ = whole_records_end(fd, whole if whole < size else 0)
        if size > pos:
            # A crash in the middle of an append: those records were never acknowledged.
            log.warning("queue %s: cutting %d bytes of an unfinished record at offset %d",
                        self.directory, size - pos, base + pos)
            os.ftruncate(fd, pos)
        return pos

    # -- appending ------------------------------------------------------------------------------

    def append(self, data: bytes) -> None:
        """Append `data`, whole records, as one write, or nothing (then raise QueueUnavailable); the
        lock held."""
        with self.across_processes():
            if self.shared:
                self._find_end()
            base = self.bases[-1]
            if self.write_end > base and self.write_end - base + len(data) > self.segment_bytes:
                self.roll()
                base = self.bases[-1]
            if self.write_end == base:
                self.since = time.monotonic()
            start = self.write_end - base
            if self.shared:
                self.head.intend(self.write_end + len(data))
            try:
                self._write_all(data, start)
                if self.fsync:
                    os.fdatasync(self._write_fd)
            except OSError as exc:
                # Leave no partial record behind: the log stays exactly as it was before this call.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._write_fd, start)
                    if self.shared:
                        self.head.write(base, self.write_end)
                raise QueueUnavailable(f"cannot append to queue {self.directory}: {exc.strerror}") from exc
            self.write_end += len(data)
            if self.shared:
                self.head.write(base, self.write_end)
        if self._receivers:  # Condition.notify_all costs a microsecond even with nobody waiting
            self.appended.notify_all()

    def _write_all(self, data: bytes, position: int) -> None:
        written = os.pwrite(self._write_fd, data, position)
        if written == len(data):
            return  # the usual case: one call, no memoryview
        view = memoryview(data)
        while True:
            if written == 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            view, position = view[written:], position + written
            if not view:
                return
            written = os.pwrite(self._write_fd, view, position)

    def _find_end(self) -> None:
        """Where the sending side appends (the append lock across processes held): the segment `head`
        names, which the receiving process or another sender may have rolled to, after the whole
        records there. Another sender killed while appending may have left a torn record: it was never
        acknowledged, and is cut."""
        head = self.head.read()
        if head is None:  # only ever after open() wrote it, unless mangled by hand
            return
        base, end, intended = head
        if base != self.bases[-1]:
            fd = self._create(base)  # made if its roller was killed before it could
            os.close(self._write_fd)
            self._write_fd = fd
            self.bases = [base]
        if end == intended:  # the last append completed
            self.write_end = end
        else:
            self.write_end = base + self._recover_tail(self._write_fd, base, end - base)
            self.head.write(base, self.write_end)

    # -- rolling --------------------------------------------------------------------------------

    def roll(self) -> None:
        """Start a new segment at the log's end (the lock and, when shared, the one across processes
        held)."""
        # Named before it is made: a process killed in between leaves `head` naming a segment that
        # whoever holds the append lock next makes (_find_end, _segments).
        self.head.write(self.write_end, self.write_end)
        try:
            fd = self._create(self.write_end)
            if not self.sends:
                os.close(fd)
        except OSError as exc:
            self.head.write(self.bases[-1], self.write_end)  # still appended to: never made
            raise QueueUnavailable(f"cannot start a new segment in {self.directory}: {exc.strerror}") from exc
        if self.sends:
            os.close(self._write_fd)
            self._write_fd = fd
        if self.receives:
            self.bases.append(self.write_end)
        else:
            self.bases = [self.write_end]
        self.since = None

    def roll_written(self, read_pos: int) -> None:
        """The receiving side's roll (the lock held), for age and scrubs: if the write segment holds
        records. With the sending side another process's, which follows `head`, the whole records are
        found from `read_pos`, always at a record's start."""
        if not self.shared:
            if self.write_end > self.bases[-1]:
                self.roll()
            return
        with self.across_processes():
            last = self.bases[-1]
            fd = os.open(self.path(last), os.O_RDWR)
            try:
                size = os.fstat(fd).st_size
                pos, corrupt = whole_records_end(fd, max(read_pos, last) - last)
                if corrupt:
                    pos = size  # damage on disk, not a torn append: the reader sets it aside
                elif size > pos:  # the tail of a sender killed while appending: never acknowledged
                    log.warning("queue %s: cutting %d bytes of an unfinished record at offset %d",
                                self.directory, size - pos, last + pos)
                    os.ftruncate(fd, pos)
            finally:
                os.close(fd)
            self.write_end = last + pos
            if self.write_end > last:
                self.roll()

    def drop_below(self, cursor: int) -> list[int]:
        """Forget the segments wholly before `cursor`, and return them (to delete, the lock released)."""
        with self.lock:
            doomed = []
            while len(self.bases) > 1 and self.bases[1] <= cursor:
                doomed.append(self.bases.pop(0))
        return doomed

    # -- the receiving side's view --------------------------------------------------------------

    def see_end(self) -> None:
        """The receiving process's view of the log: its segments and its end (append lock held). A
        dead sender may have left a torn record at the end: it reads as not there yet, and whoever
        next holds the append lock across processes cuts it."""
        if not self.shared:
            return
        with self.across_processes():
            head = self.head.read()
            if head is not None and head[0] != self.bases[-1]:
                self.bases = [base for base in self._segments(head) if base >= self.bases[0]]
            with contextlib.suppress(FileNotFoundError):  # removed by hand: nothing more to read there
                self.write_end = self.bases[-1] + os.stat(self.path(self.bases[-1])).st_size
        if self.since is None and self.write_end > self.bases[-1]:
            self.since = time.monotonic()  # first seen now: aged from here

    def wait_for_append(self, seen: int, timeout: float) -> None:
        """Wait up to `timeout` seconds for records past `seen`."""
        if self.shared:
            self._await_append(seen, time.monotonic() + timeout)
            return
        with self.appended:
            if self.write_end <= seen and not self.closed:
                self._receivers += 1
                try:
                    self.appended.wait(max(0.0, timeout))
                finally:
                    self._receivers -= 1

    def _await_append(self, seen: int, until: float) -> None:
        """Wait until the sending process appends past `seen`, looking at the size of the segment it
        writes every APPEND_POLL seconds (a stat; no lock): that much latency, no busy loop."""
        while not self.closed and (now := time.monotonic()) < until:
            head = self.head.read()  # without the lock: a hint that the log was rolled
            try:
                if head is not None and head[0] != self.bases[-1]:
                    return
                last = self.bases[-1]
                if last + os.stat(self.path(last)).st_size > seen:
                    return
            except FileNotFoundError:
                return
            time.sleep(min(APPEND_POLL, until - now))

    def close(self) -> None:
        """The lock held."""
        self.closed = True
        self.appended.notify_all()
        if self.sends:
            os.close(self._write_fd)
        self.head.close()


def whole_records_end(fd: int, pos: int) -> tuple[int, bool]:
    """From `pos`, a record's start in a segment, the end of the whole records that follow it, and
    whether damage (rather than the file's end or a torn record) stopped there."""
    while True:
        chunk = os.pread(fd, READ_CHUNK, pos)
        _, consumed, corrupt = scan(chunk, limit=len(chunk))
        pos += consumed
        if corrupt or len(chunk) < READ_CHUNK:
            return pos, corrupt
